//! Every word the console writes, in English and Arabic: one table. Names,
//! titles and the services' messages are shown as the ledger holds them.

/// The language of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ar,
}

impl Lang {
    /// `en` or `ar`, as in `?lang=` and `<html lang>`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }

    pub fn dir(self) -> &'static str {
        match self {
            Lang::En => "ltr",
            Lang::Ar => "rtl",
        }
    }

    /// The other language, which the page offers to switch to.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ar,
            Lang::Ar => Lang::En,
        }
    }

    /// An arrow pointing the way the page reads ("more →").
    pub fn onward(self) -> &'static str {
        match self {
            Lang::En => "→",
            Lang::Ar => "←",
        }
    }

    pub fn t(self, text: Text) -> &'static str {
        let (english, arabic) = words(text);
        match self {
            Lang::En => english,
            Lang::Ar => arabic,
        }
    }
}

/// What the console says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    Console,
    LanguageName,
    Overview,
    Matrix,
    Gaps,
    Overlaps,
    Municipalities,
    Organisations,
    Projects,
    AsOf,
    Now,
    Show,
    AnswerReflects,
    Position,
    Head,
    ChainId,
    GenesisHash,
    Linearizable,
    RegisteredNow,
    ProjectsCount,
    OpenOverlaps,
    UncoveredNeeds,
    MoreThan,
    Countries,
    WhoSupports,
    NobodySupports,
    Sector,
    Project,
    Donor,
    ClaimedBy,
    Implementers,
    Status,
    Start,
    End,
    Budget,
    HeldForReview,
    Closed,
    GapsHere,
    NoGaps,
    Children,
    Parent,
    AdminLevel,
    AllProjectsHere,
    Rank,
    Municipality,
    PeopleInNeed,
    Severity,
    Period,
    Source,
    Kind,
    Review,
    NotReviewed,
    Note,
    NoOverlaps,
    IncludeComplementary,
    OnlyOpen,
    Details,
    IatiIdentifier,
    Owner,
    Locations,
    Sectors,
    SignedHistory,
    HistoryExplained,
    Author,
    EventId,
    CommittedAt,
    CreatedAt,
    AfterAsOf,
    NotRegisteredAsOf,
    SigningKey,
    Role,
    IatiOrgType,
    ReportsFor,
    Keys,
    PublicKey,
    Sequence,
    Active,
    RevokedAt,
    ItsProjects,
    NoProjects,
    NextPage,
    FirstPage,
    MatrixExplained,
    ShowDonors,
    ShowBudget,
    Overlap,
    Gap,
    TooManyRows,
    NarrowTo,
    Shown,
    Of,
    Yes,
    Name,
    Pcode,
    FilterPcode,
    AnyLevel,
    AnySector,
    Download,
    DownloadHxl,
    LatestEvents,
    Search,
    SearchHint,
    NoResults,
    SearchedUpTo,
    Live,
    NewEvents,
    SignIn,
    SignInExplained,
    AccessToken,
    TokenRefused,
    RoleMinistry,
    RoleDonor,
    RoleObserver,
    RoleLocalGovernment,
    RoleImplementer,
    RoleUnknown,
    VerdictComplementary,
    VerdictDuplicate,
    VerdictSameProject,
    AttestedConfirmed,
    AttestedDisputed,
    AttestedPartly,
    NotFound,
    BadRequest,
    Unavailable,
    Failed,
    NotFoundHint,
    BadRequestHint,
    UnavailableHint,
    FailedHint,
    DetailInEnglish,
    BadDate,
    BadLevel,
    TooLong,
    BadLanguage,
    BackToOverview,
    NotAPage,
    Map,
    ColourBy,
    MapByCoverage,
    MapByGaps,
    MapCoverageExplained,
    MapGapsExplained,
    OrganisationsSupporting,
    LargestUncoveredNeed,
    NotOnLedger,
    PlaceWithPlacesUnder,
    NoneYet,
    NoBoundaries,
    IllustrativeShapes,
    WithoutShape,
    EveryPlaceHasShape,
    NoShapeHere,
}

/// (English, Arabic).
fn words(text: Text) -> (&'static str, &'static str) {
    use Text::*;
    match text {
        Console => ("Tansiq console", "منصة تنسيق"),
        LanguageName => ("English", "العربية"),
        Overview => ("Overview", "نظرة عامة"),
        Matrix => ("Coverage matrix", "مصفوفة التغطية"),
        Gaps => ("Gaps", "الفجوات"),
        Overlaps => ("Overlaps", "التداخلات"),
        Municipalities => ("Municipalities", "البلديات"),
        Organisations => ("Organisations", "المنظمات"),
        Projects => ("Projects", "المشاريع"),
        AsOf => ("As of", "بتاريخ"),
        Now => ("now", "الآن"),
        Show => ("Show", "عرض"),
        AnswerReflects => ("This answer reflects", "تعكس هذه الإجابة"),
        Position => ("log position", "موضع السجل"),
        Head => ("head", "رأس السجل"),
        ChainId => ("Chain id", "معرّف السلسلة"),
        GenesisHash => ("Genesis hash", "بصمة التكوين"),
        Linearizable => ("every write committed before it", "كل ما سُجّل قبلها"),
        RegisteredNow => ("as registered now", "كما هي مسجلة الآن"),
        ProjectsCount => ("Projects (closed ones included)", "المشاريع (ومنها المغلقة)"),
        OpenOverlaps => ("Open overlaps", "تداخلات قائمة"),
        UncoveredNeeds => ("Uncovered needs", "احتياجات غير مغطاة"),
        MoreThan => ("more than", "أكثر من"),
        Countries => ("Countries", "الدول"),
        WhoSupports => ("Who supports it", "من يدعمها"),
        NobodySupports => ("Nobody supports it on this date.", "لا أحد يدعمها في هذا التاريخ."),
        Sector => ("Sector", "القطاع"),
        Project => ("Project", "المشروع"),
        Donor => ("Donor", "المانح"),
        ClaimedBy => ("claimed by", "بادعاء من"),
        Implementers => ("Implementers", "المنفذون"),
        Status => ("Status", "الحالة"),
        Start => ("Start", "البداية"),
        End => ("End", "النهاية"),
        Budget => ("Budget", "الميزانية"),
        HeldForReview => ("held for the ministry's review", "معلّق لمراجعة الوزارة"),
        Closed => ("closed", "مغلق"),
        GapsHere => ("Assessed needs nobody covers, here and under it", "احتياجات مقيّمة لا يغطيها أحد، هنا وفيما يتبعها"),
        NoGaps => ("No uncovered need on this date.", "لا احتياجات غير مغطاة في هذا التاريخ."),
        Children => ("Under it", "يتبعها"),
        Parent => ("Part of", "تتبع"),
        AdminLevel => ("Administrative level", "المستوى الإداري"),
        AllProjectsHere => ("Every project here, closed ones included", "كل المشاريع هنا، ومنها المغلقة"),
        Rank => ("Rank", "الترتيب"),
        Municipality => ("Municipality", "البلدية"),
        PeopleInNeed => ("People in need", "الأشخاص المحتاجون"),
        Severity => ("Severity", "الشدة"),
        Period => ("Period", "الفترة"),
        Source => ("Source", "المصدر"),
        Kind => ("Kind", "النوع"),
        Review => ("Ministry's review", "مراجعة الوزارة"),
        NotReviewed => ("not reviewed", "لم تُراجع"),
        Note => ("Note", "ملاحظة"),
        NoOverlaps => ("No overlap on this date.", "لا تداخلات في هذا التاريخ."),
        IncludeComplementary => ("Include pairs reviewed as complementary", "إظهار الأزواج المصنّفة متكاملة"),
        OnlyOpen => ("Open overlaps only", "التداخلات القائمة فقط"),
        Details => ("Details", "التفاصيل"),
        IatiIdentifier => ("IATI identifier", "معرّف IATI"),
        Owner => ("Reporting organisation", "الجهة المبلّغة"),
        Locations => ("Locations", "المواقع"),
        Sectors => ("Sectors", "القطاعات"),
        SignedHistory => ("Signed history", "السجل الموقّع"),
        HistoryExplained => (
            "Every event about this project on the ledger, each signed by its author (tansiq verify checks every signature again).",
            "كل حدث يخص هذا المشروع في السجل، وقّعه كاتبه (يعيد الأمر tansiq verify التحقق من كل توقيع).",
        ),
        Author => ("Author", "الكاتب"),
        SigningKey => ("Signing key", "مفتاح التوقيع"),
        EventId => ("Event id", "معرّف الحدث"),
        CommittedAt => ("Committed (UTC)", "وقت التسجيل (UTC)"),
        CreatedAt => ("Signed (author's clock)", "وقت التوقيع (ساعة الكاتب)"),
        AfterAsOf => ("after the as-of date", "بعد التاريخ المختار"),
        NotRegisteredAsOf => ("Not registered yet on this date.", "لم يكن مسجلاً بعد في هذا التاريخ."),
        Role => ("Role", "الدور"),
        IatiOrgType => ("IATI organisation type", "نوع المنظمة في IATI"),
        ReportsFor => ("Reports for", "تُبلّغ عن"),
        Keys => ("Signing keys", "مفاتيح التوقيع"),
        PublicKey => ("Public key", "المفتاح العام"),
        Sequence => ("Events signed", "الأحداث الموقّعة"),
        Active => ("active", "نشط"),
        RevokedAt => ("revoked at log position", "أُلغي عند موضع السجل"),
        ItsProjects => ("Its projects", "مشاريعها"),
        NoProjects => ("No project on this date.", "لا مشاريع في هذا التاريخ."),
        NextPage => ("Next page", "الصفحة التالية"),
        FirstPage => ("First page", "الصفحة الأولى"),
        MatrixExplained => (
            "Municipalities × sector categories: the number of projects supporting each; a cell opens who supports it.",
            "البلديات × فئات القطاعات: عدد المشاريع الداعمة لكل منها؛ الخلية تفتح من يدعمها.",
        ),
        ShowDonors => ("Show donors", "عرض المانحين"),
        ShowBudget => ("Show committed amounts", "عرض المبالغ الملتزم بها"),
        Overlap => ("overlap", "تداخل"),
        Gap => ("uncovered need", "احتياج غير مغطى"),
        TooManyRows => (
            "Too many municipalities for one matrix: narrow the P-code.",
            "عدد البلديات أكبر من أن تعرضه مصفوفة واحدة: اختر رمزاً أضيق.",
        ),
        NarrowTo => ("Narrow to", "اختر"),
        Shown => ("shown", "معروضة"),
        Of => ("of", "من"),
        Yes => ("yes", "نعم"),
        Name => ("Name", "الاسم"),
        Pcode => ("P-code", "الرمز"),
        FilterPcode => ("Under P-code", "تحت الرمز"),
        AnyLevel => ("any level", "كل المستويات"),
        AnySector => ("any sector", "كل القطاعات"),
        Download => ("Download CSV", "تنزيل CSV"),
        DownloadHxl => ("HXL-tagged CSV", "CSV بوسوم HXL"),
        LatestEvents => ("Latest events", "آخر الأحداث"),
        Search => ("Search", "بحث"),
        SearchHint => (
            "A name in Arabic or Latin script (spelling variants match), a P-code, an IATI identifier or a project id.",
            "اسم بالحروف العربية أو اللاتينية (تتطابق صيغ الكتابة المختلفة)، أو رمز مكان، أو معرّف IATI، أو معرّف مشروع.",
        ),
        NoResults => ("Nothing on the ledger matches.", "لا شيء في السجل يطابق البحث."),
        SearchedUpTo => (
            "Only part of the ledger was searched for this page: the next page searches on.",
            "بُحث في جزء من السجل لهذه الصفحة: الصفحة التالية تواصل البحث.",
        ),
        Live => ("Updates as events are committed.", "تتحدّث عند تسجيل أحداث جديدة."),
        NewEvents => ("New events were committed: updated.", "سُجّلت أحداث جديدة: تم التحديث."),
        SignIn => ("Sign in", "تسجيل الدخول"),
        SignInExplained => (
            "This console is served beyond the node's own machine and needs an access token from the node's operator.",
            "تُعرض هذه المنصة خارج جهاز العقدة وتحتاج إلى رمز دخول من مشغّل العقدة.",
        ),
        AccessToken => ("Access token", "رمز الدخول"),
        TokenRefused => ("This token does not open this console.", "هذا الرمز لا يفتح هذه المنصة."),
        RoleMinistry => ("ministry", "وزارة"),
        RoleDonor => ("donor", "مانح"),
        RoleObserver => ("observer", "مراقب"),
        RoleLocalGovernment => ("municipality (local government)", "بلدية (حكم محلي)"),
        RoleImplementer => ("implementing partner", "شريك منفذ"),
        RoleUnknown => ("unknown role", "دور غير معروف"),
        VerdictComplementary => ("complementary", "متكاملان"),
        VerdictDuplicate => ("duplicate", "مكرر"),
        VerdictSameProject => ("the same project", "المشروع نفسه"),
        AttestedConfirmed => ("confirmed by the donor", "أكده المانح"),
        AttestedDisputed => ("disputed by the donor", "نفاه المانح"),
        AttestedPartly => ("partly confirmed by the donor", "أكده المانح جزئياً"),
        NotFound => ("Not found", "غير موجود"),
        BadRequest => ("Bad request", "طلب غير صالح"),
        Unavailable => ("Unavailable", "غير متاح الآن"),
        Failed => ("The node could not answer", "تعذّر على العقدة الإجابة"),
        NotFoundHint => (
            "The ledger holds nothing under this code or id: check it, or find it with the search.",
            "لا يحمل السجل شيئاً بهذا الرمز أو المعرّف: تحقق منه، أو ابحث عنه من صفحة البحث.",
        ),
        BadRequestHint => (
            "A value in the address is not valid: the detail below says which.",
            "في العنوان قيمة غير صالحة: التفاصيل أدناه تذكرها.",
        ),
        UnavailableHint => (
            "The node cannot answer now: retry in a moment.",
            "لا تستطيع العقدة الإجابة الآن: أعد المحاولة بعد قليل.",
        ),
        FailedHint => (
            "The node failed to answer: tell its operator, with the detail below.",
            "تعذّرت الإجابة على العقدة: أبلغ مشغّلها مع التفاصيل أدناه.",
        ),
        DetailInEnglish => ("Detail:", "التفاصيل (بالإنجليزية):"),
        BadDate => (
            "The date is not valid: write it as YYYY-MM-DD, e.g. 2026-06-30.",
            "التاريخ غير صالح: اكتبه بالصيغة YYYY-MM-DD، مثل 2026-06-30.",
        ),
        BadLevel => (
            "The administrative level is a number from 1 (a region) to 5.",
            "المستوى الإداري رقم من 1 (منطقة) إلى 5.",
        ),
        TooLong => (
            "A value in the address is too long: the detail below says how long it may be.",
            "في العنوان قيمة أطول من المسموح: التفاصيل أدناه تذكر الحد.",
        ),
        BadLanguage => (
            "The console speaks English (en) and Arabic (ar).",
            "لغتا لوحة المتابعة هما الإنجليزية (en) والعربية (ar).",
        ),
        BackToOverview => ("Back to the overview", "العودة إلى النظرة العامة"),
        NotAPage => ("There is no page at this address.", "لا توجد صفحة بهذا العنوان."),
        Map => ("Map", "الخريطة"),
        ColourBy => ("Colour by", "التلوين حسب"),
        MapByCoverage => ("coverage", "التغطية"),
        MapByGaps => ("uncovered needs", "الاحتياجات غير المغطاة"),
        MapCoverageExplained => (
            "Each place is coloured by the number of organisations supporting it or a place under it (the donors of its projects, as in the coverage matrix); a place opens its page.",
            "كل مكان ملوّن بعدد المنظمات التي تدعمه أو تدعم مكاناً يتبعه (الجهات المانحة لمشاريعه، كما في مصفوفة التغطية)؛ النقر على المكان يفتح صفحته.",
        ),
        MapGapsExplained => (
            "Each place is coloured by its largest assessed need nobody covers (people in need), in it or under it; a place opens its page.",
            "كل مكان ملوّن بأكبر احتياج مقيّم لا يغطيه أحد (عدد الأشخاص المحتاجين)، فيه أو فيما يتبعه؛ النقر على المكان يفتح صفحته.",
        ),
        OrganisationsSupporting => ("Organisations supporting it", "المنظمات الداعمة"),
        LargestUncoveredNeed => ("People in need, largest uncovered need", "الأشخاص المحتاجون في أكبر احتياج غير مغطى"),
        NotOnLedger => ("not on the ledger", "غير مسجل في السجل"),
        PlaceWithPlacesUnder => ("a place with places under it: their colours tell", "مكان تتبعه أماكن: العبرة بألوانها"),
        NoneYet => ("none", "لا شيء"),
        NoBoundaries => (
            "No boundaries were given to this node: start it with --boundaries FILE.geojson (administrative boundaries with a P-code property, such as OCHA's COD-AB files).",
            "لم تُعطَ هذه العقدة حدوداً إدارية: شغّلها مع --boundaries FILE.geojson (حدود إدارية فيها خاصية الرمز، مثل ملفات COD-AB من أوتشا).",
        ),
        IllustrativeShapes => ("Illustrative shapes, not real boundaries.", "أشكال توضيحية، وليست حدوداً حقيقية."),
        WithoutShape => ("Municipalities of the ledger here without a shape on this map", "بلديات السجل هنا التي ليس لها شكل على هذه الخريطة"),
        EveryPlaceHasShape => (
            "Every municipality of the ledger here has a shape on this map (at the administrative levels it draws).",
            "لكل بلدية من بلديات السجل هنا شكل على هذه الخريطة (في المستويات الإدارية التي ترسمها).",
        ),
        NoShapeHere => ("The boundaries have no shape under this P-code.", "لا أشكال تحت هذا الرمز في ملف الحدود."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_say_something() {
        for lang in [Lang::En, Lang::Ar] {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
            assert_eq!(lang.other().other(), lang);
            for text in [
                Text::Console,
                Text::Overview,
                Text::NotFound,
                Text::NotAPage,
            ] {
                assert!(!lang.t(text).is_empty());
            }
        }
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::parse("fr"), None);
    }
}
