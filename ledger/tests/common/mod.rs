//! Events the ledger's integration tests sign.

use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

/// A level-1 municipality of Libya named by its P-code.
pub fn municipality(pcode: &str) -> Kind {
    Kind::MunicipalityRegistered(pb::MunicipalityRegistered {
        pcode: pcode.into(),
        admin_level: 1,
        parent_pcode: String::new(),
        country: "LY".into(),
        name: Some(pb::Names {
            latin: pcode.into(),
            arabic: String::new(),
        }),
        population: 0,
    })
}
