//! `--dev --demo`: a scenario loaded into an empty dev ledger, each
//! organisation signing with its own key (written to `<data dir>/demo-keys/`,
//! marked as dev keys), through the same committer as any client.
//!
//! The contexts are real (the Libyan Ministry of Local Government and its
//! partners; Ghadames twinned with Tinley Park in a USAID-funded programme;
//! the ILO with Al-Muwaqqar; Aourir with UNDP, the EU, WWF and the Red Cross;
//! Deir ez-Zor's local development plan; NGOs coordinated by the Syrian
//! Ministry of Social Affairs). **P-codes, dates, budgets and figures are
//! illustrative**, not official data.
//!
//! What it shows: a real overlap the check would have flagged (UNDP's
//! governance project in Ghadames next to USAID's, held under the `hold`
//! policy of sector category 151), a pair reviewed as complementary (the EU's
//! school transport and UNDP's roads in Aourir), a closed project that no
//! longer counts, and ranked gaps (Nalut's water, Ghadames' clinic).

use std::path::Path;

use anyhow::{bail, Context};
use tansiq_ledger::author::{now_ms, Author, KeyFile};
use tansiq_ledger::date::Date;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

use crate::committer::Committer;
use crate::dev::MINISTRY_KEY_FILE;

const KEY_DIR: &str = "demo-keys";

fn names(latin: &str, arabic: &str) -> Option<pb::Names> {
    Some(pb::Names {
        latin: latin.into(),
        arabic: arabic.into(),
    })
}

/// (org id, role, Latin name, Arabic name, IATI identifier, IATI org type)
const ORGANISATIONS: &[(&str, pb::OrgRole, &str, &str, &str, u32)] = &[
    (
        "usaid",
        pb::OrgRole::Donor,
        "USAID",
        "الوكالة الأمريكية للتنمية الدولية",
        "US-GOV-1",
        10,
    ),
    (
        "tinley-park",
        pb::OrgRole::Donor,
        "Village of Tinley Park (twinned with Ghadames)",
        "بلدية تينلي بارك",
        "",
        11,
    ),
    (
        "ilo",
        pb::OrgRole::Donor,
        "International Labour Organization",
        "منظمة العمل الدولية",
        "XM-DAC-41302",
        40,
    ),
    (
        "undp",
        pb::OrgRole::Donor,
        "UNDP",
        "برنامج الأمم المتحدة الإنمائي",
        "XM-DAC-41114",
        40,
    ),
    (
        "eu",
        pb::OrgRole::Donor,
        "European Union",
        "الاتحاد الأوروبي",
        "XI-IATI-EC_NEAR",
        40,
    ),
    (
        "wwf",
        pb::OrgRole::Donor,
        "WWF",
        "الصندوق العالمي للطبيعة",
        "",
        21,
    ),
    (
        "red-cross",
        pb::OrgRole::Donor,
        "Red Cross / Red Crescent",
        "الصليب الأحمر / الهلال الأحمر",
        "",
        21,
    ),
    (
        "sy-mosal",
        pb::OrgRole::Observer,
        "Syrian Ministry of Social Affairs and Labour",
        "وزارة الشؤون الاجتماعية والعمل",
        "",
        10,
    ),
    (
        "sarc",
        pb::OrgRole::Donor,
        "Syrian Arab Red Crescent",
        "الهلال الأحمر العربي السوري",
        "",
        22,
    ),
    (
        "hi",
        pb::OrgRole::Donor,
        "Humanity & Inclusion",
        "الإنسانية والإدماج",
        "",
        21,
    ),
    (
        "care",
        pb::OrgRole::Donor,
        "CARE International",
        "كير الدولية",
        "",
        21,
    ),
    (
        "deir-enterprise-centre",
        pb::OrgRole::Implementer,
        "Deir ez-Zor Small Enterprise Centre (illustrative)",
        "مركز المشاريع الصغيرة في دير الزور",
        "",
        22,
    ),
];

/// (P-code, parent, level, Latin, Arabic, population) — P-codes illustrative.
const MUNICIPALITIES: &[(&str, &str, u32, &str, &str, u64)] = &[
    // Countries (level 0): where projects known only by country are kept.
    ("LY", "", 0, "Libya", "ليبيا", 0),
    ("JO", "", 0, "Jordan", "الأردن", 0),
    ("MA", "", 0, "Morocco", "المغرب", 0),
    ("SY", "", 0, "Syria", "سوريا", 0),
    ("LY03", "", 1, "Nalut district", "شعبية نالوت", 0),
    ("LY0301", "LY03", 2, "Nalut", "نالوت", 66_000),
    ("LY0305", "LY03", 2, "Ghadames", "غدامس", 11_000),
    ("JO11", "", 1, "Amman governorate", "محافظة العاصمة", 0),
    ("JO1105", "JO11", 2, "Al-Muwaqqar", "الموقر", 36_000),
    ("MA09", "", 1, "Souss-Massa", "سوس ماسة", 0),
    ("MA0901", "MA09", 2, "Aourir", "أورير", 33_000),
    (
        "SY09",
        "",
        1,
        "Deir ez-Zor governorate",
        "محافظة دير الزور",
        0,
    ),
    ("SY0901", "SY09", 2, "Deir ez-Zor", "دير الزور", 300_000),
];

struct Project {
    owner: &'static str,
    id: &'static str,
    title: (&'static str, &'static str),
    funder: &'static str,
    implementer: &'static str,
    pcode: &'static str,
    sectors: &'static [&'static str],
    period: (&'static str, &'static str),
    status: u32,
    budget: (&'static str, &'static str),
}

const PROJECTS: &[Project] = &[
    Project {
        owner: "usaid",
        id: "usaid-ghadames-water-2024",
        title: ("Ghadames water network repairs", "إصلاح شبكة مياه غدامس"),
        funder: "usaid",
        implementer: "tinley-park",
        pcode: "LY0305",
        sectors: &["14030"],
        period: ("2024-01-01", "2025-06-30"),
        status: 2,
        budget: ("400000", "USD"),
    },
    Project {
        owner: "usaid",
        id: "usaid-ghadames-governance",
        title: (
            "Ghadames municipal management and revenue",
            "إدارة بلدية غدامس وتنمية الإيرادات",
        ),
        funder: "usaid",
        implementer: "tinley-park",
        pcode: "LY0305",
        sectors: &["15112"],
        period: ("2025-10-01", "2027-09-30"),
        status: 2,
        budget: ("1200000", "USD"),
    },
    Project {
        owner: "usaid",
        id: "usaid-ghadames-preparedness",
        title: (
            "Disaster preparedness and municipal archives",
            "الاستعداد للكوارث وأرشفة الوثائق البلدية",
        ),
        funder: "usaid",
        implementer: "tinley-park",
        pcode: "LY0305",
        sectors: &["74020"],
        period: ("2025-10-01", "2027-09-30"),
        status: 2,
        budget: ("350000", "USD"),
    },
    Project {
        owner: "ilo",
        id: "ilo-muwaqqar-decent-work",
        title: (
            "Decent work and municipal services for host communities and Syrian refugees",
            "العمل اللائق والخدمات البلدية للمجتمع المضيف واللاجئين السوريين",
        ),
        funder: "ilo",
        implementer: "ilo",
        pcode: "JO1105",
        sectors: &["16020"],
        period: ("2025-03-01", "2027-02-28"),
        status: 2,
        budget: ("2500000", "USD"),
    },
    Project {
        owner: "undp",
        id: "undp-aourir-desalination-solar",
        title: (
            "Solar-powered desalination for Aourir",
            "تحلية المياه بالطاقة الشمسية في أورير",
        ),
        funder: "undp",
        implementer: "undp",
        pcode: "MA0901",
        sectors: &["14020", "23230"],
        period: ("2026-01-01", "2028-12-31"),
        status: 1,
        budget: ("3000000", "USD"),
    },
    Project {
        owner: "eu",
        id: "eu-aourir-waste",
        title: (
            "Solid waste collection and sorting",
            "جمع النفايات الصلبة وفرزها",
        ),
        funder: "eu",
        implementer: "eu",
        pcode: "MA0901",
        sectors: &["14050"],
        period: ("2025-06-01", "2027-05-31"),
        status: 2,
        budget: ("900000", "EUR"),
    },
    Project {
        owner: "eu",
        id: "eu-aourir-school-transport",
        title: (
            "School transport for rural pupils",
            "النقل المدرسي لتلاميذ القرى",
        ),
        funder: "eu",
        implementer: "eu",
        pcode: "MA0901",
        sectors: &["21020"],
        period: ("2025-09-01", "2027-07-31"),
        status: 2,
        budget: ("450000", "EUR"),
    },
    Project {
        owner: "undp",
        id: "undp-aourir-roads",
        title: ("Rural roads rehabilitation", "إعادة تأهيل الطرق القروية"),
        funder: "undp",
        implementer: "undp",
        pcode: "MA0901",
        sectors: &["21020"],
        period: ("2026-01-01", "2027-12-31"),
        status: 2,
        budget: ("1100000", "USD"),
    },
    Project {
        owner: "wwf",
        id: "wwf-aourir-festival",
        title: (
            "Aourir banana and nature festival",
            "مهرجان أورير للموز والطبيعة",
        ),
        funder: "wwf",
        implementer: "wwf",
        pcode: "MA0901",
        sectors: &["16061"],
        period: ("2026-05-01", "2026-05-31"),
        status: 1,
        budget: ("60000", "EUR"),
    },
    Project {
        owner: "red-cross",
        id: "redcross-aourir-first-aid",
        title: (
            "Community first aid and emergency preparedness",
            "الإسعافات الأولية والتأهب للطوارئ",
        ),
        funder: "red-cross",
        implementer: "red-cross",
        pcode: "MA0901",
        sectors: &["74020"],
        period: ("2026-02-01", "2027-01-31"),
        status: 2,
        budget: ("120000", "EUR"),
    },
    Project {
        owner: "undp",
        id: "undp-deir-small-enterprises",
        title: (
            "Small enterprises and youth employment in Deir ez-Zor",
            "المشاريع الصغيرة وتشغيل الشباب في دير الزور",
        ),
        funder: "undp",
        implementer: "deir-enterprise-centre",
        pcode: "SY0901",
        sectors: &["25030", "16020"],
        period: ("2026-01-01", "2027-12-31"),
        status: 2,
        budget: ("1800000", "USD"),
    },
    Project {
        owner: "sarc",
        id: "sarc-deir-clinics",
        title: ("Primary health clinics", "العيادات الصحية الأولية"),
        funder: "sarc",
        implementer: "sarc",
        pcode: "SY0901",
        sectors: &["12220"],
        period: ("2025-07-01", "2026-12-31"),
        status: 2,
        budget: ("700000", "USD"),
    },
    Project {
        owner: "hi",
        id: "hi-deir-disability",
        title: (
            "Disability services and rehabilitation",
            "خدمات ذوي الإعاقة وإعادة التأهيل",
        ),
        funder: "hi",
        implementer: "hi",
        pcode: "SY0901",
        sectors: &["16010"],
        period: ("2025-09-01", "2027-08-31"),
        status: 2,
        budget: ("500000", "EUR"),
    },
    Project {
        owner: "care",
        id: "care-deir-women-heads",
        title: (
            "Support for women heads of household",
            "دعم النساء المعيلات لأسرهن",
        ),
        funder: "care",
        implementer: "care",
        pcode: "SY0901",
        sectors: &["15170"],
        period: ("2026-01-01", "2027-06-30"),
        status: 2,
        budget: ("650000", "EUR"),
    },
    // Registered after USAID's governance project: same municipality, same
    // sector, overlapping period, another donor — held under the hold policy.
    Project {
        owner: "undp",
        id: "undp-ghadames-local-governance",
        title: (
            "Strengthening local governance and municipal revenue in Ghadames",
            "تعزيز الحكم المحلي والإيرادات البلدية في غدامس",
        ),
        funder: "undp",
        implementer: "undp",
        pcode: "LY0305",
        sectors: &["15112"],
        period: ("2026-03-01", "2028-02-29"),
        status: 1,
        budget: ("950000", "USD"),
    },
];

/// Municipalities' own organisations (ORG_ROLE_LOCAL_GOVERNMENT): (org id,
/// P-code, Latin name, Arabic name), registered once their municipality is.
const LOCAL_GOVERNMENTS: &[(&str, &str, &str, &str)] = &[
    (
        "ghadames-municipality",
        "LY0305",
        "Ghadames Municipal Council",
        "المجلس البلدي غدامس",
    ),
    (
        "muwaqqar-municipality",
        "JO1105",
        "Al-Muwaqqar Municipality",
        "بلدية الموقر",
    ),
];

/// (P-code, sector, people in need, severity, source) — figures illustrative.
const NEEDS: &[(&str, &str, u64, u32, &str)] = &[
    (
        "LY0301",
        "14030",
        12_000,
        3,
        "Municipal water survey 2026 (illustrative)",
    ),
    (
        "LY0305",
        "12220",
        8_000,
        4,
        "Ministry health facility mapping 2026 (illustrative)",
    ),
    (
        "SY0901",
        "12220",
        150_000,
        4,
        "Syrian Ministry of Social Affairs needs overview (illustrative)",
    ),
    (
        "JO1105",
        "16020",
        9_000,
        3,
        "Host community assessment (illustrative)",
    ),
];

/// Loads the scenario into an empty ledger; does nothing when the ledger
/// already holds events.
pub async fn load(data_dir: &Path, ledger: &Ledger, committer: &Committer) -> anyhow::Result<()> {
    if ledger.tip()?.position.0 > 0 {
        tracing::info!("the ledger already holds events; the demo scenario is not loaded again");
        return Ok(());
    }
    let (ministry_org, ministry_key) = KeyFile::read(&data_dir.join(MINISTRY_KEY_FILE))?;
    let chain = ledger.chain().clone();
    let mut ministry = Author::new(chain.clone(), ministry_org, ministry_key, 0, None);
    let key_dir = data_dir.join(KEY_DIR);
    std::fs::create_dir_all(&key_dir)
        .with_context(|| format!("cannot create {}", key_dir.display()))?;

    let mut submit = Submitter {
        committer,
        events: 0,
    };
    let mut authors = std::collections::HashMap::new();
    for (org_id, role, latin, arabic, iati, org_type) in ORGANISATIONS {
        let registered = pb::OrganisationRegistered {
            org_id: (*org_id).into(),
            role: *role as i32,
            name: names(latin, arabic),
            iati_identifier: (*iati).into(),
            iati_org_type: *org_type,
            ..Default::default()
        };
        let author = register(&mut submit, &mut ministry, &key_dir, registered).await?;
        authors.insert(*org_id, author);
    }
    for (pcode, parent, level, latin, arabic, population) in MUNICIPALITIES {
        submit
            .one(
                &mut ministry,
                Kind::MunicipalityRegistered(pb::MunicipalityRegistered {
                    pcode: (*pcode).into(),
                    admin_level: *level,
                    parent_pcode: (*parent).into(),
                    country: pcode[..2].into(),
                    name: names(latin, arabic),
                    population: *population,
                }),
            )
            .await?;
    }
    for (org_id, pcode, latin, arabic) in LOCAL_GOVERNMENTS {
        let registered = pb::OrganisationRegistered {
            org_id: (*org_id).into(),
            role: pb::OrgRole::LocalGovernment as i32,
            name: names(latin, arabic),
            iati_org_type: 10,
            pcode: (*pcode).into(),
            ..Default::default()
        };
        let author = register(&mut submit, &mut ministry, &key_dir, registered).await?;
        authors.insert(*org_id, author);
    }
    submit
        .one(
            &mut ministry,
            Kind::SectorPolicySet(pb::SectorPolicySet {
                sector: "151".into(),
                policy: pb::CoordinationPolicy::Hold as i32,
            }),
        )
        .await?;
    for (pcode, sector, people, severity, source) in NEEDS {
        submit
            .one(
                &mut ministry,
                Kind::NeedAssessed(pb::NeedAssessed {
                    pcode: (*pcode).into(),
                    sector: (*sector).into(),
                    people_in_need: *people,
                    severity: *severity,
                    period_start: Date::from_unix_ms(now_ms()).to_string(),
                    // Valid for two years from the day the demo is loaded, so its gaps stay open.
                    period_end: Date::from_unix_ms(now_ms() + 730 * 86_400_000).to_string(),
                    source: (*source).into(),
                }),
            )
            .await?;
    }
    for project in PROJECTS {
        let author = authors.get_mut(project.owner).with_context(|| {
            format!(
                "demo project owner {} is not an organisation",
                project.owner
            )
        })?;
        let receipt = submit.one(author, project_registered(project)).await?;
        for warning in &receipt.warnings {
            tracing::info!(project = project.id, %warning, "demo: registration warning");
        }
    }
    // The 2024 water repairs are over: they no longer count as support.
    let usaid = authors.get_mut("usaid").context("usaid")?;
    submit
        .one(
            usaid,
            Kind::ProjectClosed(pb::ProjectClosed {
                project_id: "usaid-ghadames-water-2024".into(),
                end_date: "2025-06-30".into(),
                cancelled: false,
            }),
        )
        .await?;
    // The ministry judged school transport and rural roads complementary.
    submit
        .one(
            &mut ministry,
            Kind::OverlapReviewed(pb::OverlapReviewed {
                project_a: "eu-aourir-school-transport".into(),
                project_b: "undp-aourir-roads".into(),
                verdict: pb::OverlapVerdict::Complementary as i32,
                note: "Roads serve the school bus routes; coordinated by the commune".into(),
            }),
        )
        .await?;
    results_and_attestations(&mut submit, &mut authors).await?;
    tracing::info!(
        events = submit.events,
        keys = %key_dir.display(),
        "demo scenario loaded (P-codes and figures are illustrative)"
    );
    Ok(())
}

/// Registers an organisation (as the ministry) with a new key of its own,
/// written to `key_dir/ORG.key` as a marked dev key; its author.
async fn register(
    submit: &mut Submitter<'_>,
    ministry: &mut Author,
    key_dir: &Path,
    mut registered: pb::OrganisationRegistered,
) -> anyhow::Result<Author> {
    let org = OrgId::parse(&registered.org_id)?;
    let key = KeyPair::generate();
    KeyFile::new(
        &org,
        &key,
        "DEV KEY of the demo scenario; never use it on a real ledger",
    )
    .write(&key_dir.join(format!("{org}.key")))?;
    registered.keys = vec![key.public().0.to_vec()];
    submit
        .one(ministry, Kind::OrganisationRegistered(registered))
        .await?;
    Ok(Author::new(ministry.chain.clone(), org, key, 0, None))
}

/// What was delivered, and who confirmed it (figures illustrative): Ghadames'
/// council confirms an output of USAID's programme and disputes the amount
/// of a disbursement; Al-Muwaqqar confirms the ILO project's beneficiaries;
/// the implementer in Deir ez-Zor confirms it received UNDP's funds.
async fn results_and_attestations(
    submit: &mut Submitter<'_>,
    authors: &mut std::collections::HashMap<&str, Author>,
) -> anyhow::Result<()> {
    let mut author = |org: &str| -> anyhow::Result<Author> {
        authors
            .remove(org)
            .with_context(|| format!("demo organisation {org}"))
    };
    let (mut usaid, mut ghadames) = (author("usaid")?, author("ghadames-municipality")?);
    let (mut ilo, mut muwaqqar) = (author("ilo")?, author("muwaqqar-municipality")?);
    let (mut undp, mut centre) = (author("undp")?, author("deir-enterprise-centre")?);
    submit
        .one(
            &mut usaid,
            result(
                "usaid-ghadames-governance",
                "staff-trained",
                "Municipal staff trained in revenue management (illustrative)",
                "موظفو البلدية المدربون على إدارة الإيرادات",
                ("2025-10-01", "2026-09-30", "60", "45"),
            ),
        )
        .await?;
    let attest = |subject, verdict: pb::AttestationVerdict, note: &str, value: &str| {
        Kind::AttestationMade(pb::AttestationMade {
            subject: Some(subject),
            verdict: verdict as i32,
            note: note.into(),
            value: value.into(),
        })
    };
    use pb::attestation_made::Subject;
    let delivered = |project: &str, result: &str, start: &str| {
        Subject::ResultDelivered(pb::ResultPeriodRef {
            project_id: project.into(),
            result_id: result.into(),
            period_start: start.into(),
        })
    };
    submit
        .one(
            &mut ghadames,
            attest(
                Subject::ProjectActive("usaid-ghadames-governance".into()),
                pb::AttestationVerdict::Confirmed,
                "",
                "",
            ),
        )
        .await?;
    submit
        .one(
            &mut ghadames,
            attest(
                delivered("usaid-ghadames-governance", "staff-trained", "2025-10-01"),
                pb::AttestationVerdict::Confirmed,
                "45 staff attended all sessions (illustrative)",
                "",
            ),
        )
        .await?;
    let disbursement = disbursed(
        "usaid-ghadames-governance",
        "300000",
        "ghadames-municipality",
    );
    let (paid, paid_id) = usaid.sign(disbursement, now_ms());
    submit.signed(paid).await?;
    submit
        .one(
            &mut ghadames,
            attest(
                Subject::Transaction(paid_id.0.to_vec()),
                pb::AttestationVerdict::Disputed,
                "The council's account received 240,000 USD, not 300,000 (illustrative)",
                "240000",
            ),
        )
        .await?;
    submit
        .one(
            &mut ilo,
            result(
                "ilo-muwaqqar-decent-work",
                "workers-employed",
                "Host community and refugee workers in decent jobs (illustrative)",
                "عمال من المجتمع المضيف واللاجئين في وظائف لائقة",
                ("2025-03-01", "2026-02-28", "400", "380"),
            ),
        )
        .await?;
    submit
        .one(
            &mut muwaqqar,
            attest(
                delivered("ilo-muwaqqar-decent-work", "workers-employed", "2025-03-01"),
                pb::AttestationVerdict::Confirmed,
                "Checked against the municipality's employment register (illustrative)",
                "",
            ),
        )
        .await?;
    let (paid, paid_id) = undp.sign(
        disbursed(
            "undp-deir-small-enterprises",
            "150000",
            "deir-enterprise-centre",
        ),
        now_ms(),
    );
    submit.signed(paid).await?;
    submit
        .one(
            &mut centre,
            attest(
                Subject::Transaction(paid_id.0.to_vec()),
                pb::AttestationVerdict::Confirmed,
                "",
                "",
            ),
        )
        .await?;
    for (org, signer) in [
        ("usaid", usaid),
        ("ghadames-municipality", ghadames),
        ("ilo", ilo),
        ("muwaqqar-municipality", muwaqqar),
        ("undp", undp),
        ("deir-enterprise-centre", centre),
    ] {
        authors.insert(org, signer);
    }
    Ok(())
}

/// An output result with one period: (start, end, target, actual), counted in units.
fn result(
    project: &str,
    result_id: &str,
    latin: &str,
    arabic: &str,
    (start, end, target, actual): (&str, &str, &str, &str),
) -> Kind {
    let value = |value: &str| pb::IndicatorValue {
        value: value.into(),
        ..Default::default()
    };
    Kind::ResultReported(pb::ResultReported {
        project_id: project.into(),
        result_id: result_id.into(),
        result_type: pb::ResultType::Output as i32,
        title: names(latin, arabic),
        indicator: Some(pb::Indicator {
            title: names(latin, arabic),
            measure: pb::IndicatorMeasure::Unit as i32,
            ascending: true,
            periods: vec![pb::IndicatorPeriod {
                start: start.into(),
                end: end.into(),
                target: Some(value(target)),
                actual: Some(value(actual)),
            }],
            ..Default::default()
        }),
    })
}

/// A disbursement (IATI transaction type 3) of `amount` USD to `receiver`.
fn disbursed(project: &str, amount: &str, receiver: &str) -> Kind {
    Kind::TransactionRecorded(pb::TransactionRecorded {
        project_id: project.into(),
        transaction_type: 3,
        date: "2026-01-15".into(),
        value: Some(pb::Money {
            value: amount.into(),
            currency: "USD".into(),
        }),
        description: "Disbursement (illustrative)".into(),
        receiver_org_id: receiver.into(),
        ..Default::default()
    })
}

fn project_registered(project: &Project) -> Kind {
    let participant = |org: &str, role: u32| pb::ParticipatingOrg {
        org_id: org.into(),
        iati_identifier: String::new(),
        name: None,
        role,
    };
    Kind::ProjectRegistered(pb::ProjectRegistered {
        project_id: project.id.into(),
        details: Some(pb::ProjectDetails {
            // IATI's rule: the reporting organisation's identifier first.
            iati_identifier: match ORGANISATIONS
                .iter()
                .find(|organisation| organisation.0 == project.owner)
                .map(|organisation| organisation.4)
            {
                Some(own) if !own.is_empty() => format!("{own}-{}", project.id),
                _ => format!("XM-DEMO-{}", project.id),
            },
            title: names(project.title.0, project.title.1),
            description: None,
            participants: vec![
                participant(project.funder, 1),
                participant(project.implementer, 4),
            ],
            locations: vec![pb::ProjectLocation {
                pcode: project.pcode.into(),
                percentage: 100,
            }],
            sectors: project
                .sectors
                .iter()
                .map(|code| pb::ProjectSector {
                    code: (*code).into(),
                    percentage: (100 / project.sectors.len()) as u32,
                })
                .collect(),
            status: project.status,
            planned_start: project.period.0.into(),
            planned_end: project.period.1.into(),
            actual_start: String::new(),
            actual_end: String::new(),
            budget: Some(pb::Money {
                value: project.budget.0.into(),
                currency: project.budget.1.into(),
            }),
        }),
    })
}

struct Submitter<'a> {
    committer: &'a Committer,
    events: usize,
}

impl Submitter<'_> {
    async fn one(
        &mut self,
        author: &mut Author,
        kind: Kind,
    ) -> anyhow::Result<tansiq_ledger::Receipt> {
        let (event, _) = author.sign(kind, now_ms());
        self.signed(event).await
    }

    async fn signed(&mut self, event: pb::SignedEvent) -> anyhow::Result<tansiq_ledger::Receipt> {
        match self.committer.submit(vec![event]).await {
            Ok(mut receipts) if receipts.len() == 1 => {
                self.events += 1;
                Ok(receipts.remove(0))
            }
            Ok(receipts) => bail!("demo: expected one receipt, got {}", receipts.len()),
            Err(error) => bail!("demo event refused: {error:?}"),
        }
    }
}
