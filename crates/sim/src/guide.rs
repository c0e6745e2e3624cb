//! The simulated provider's Service User Guide: what a home care provider tells the people
//! it supports, written to answer the council's guidance (choices about records and paper,
//! access in the person's format, free access, who sees what, medicines, outages,
//! complaints).

use careledger_care::event::{GuidePublished, GuideSection};

fn section(heading: &str, body: &str) -> GuideSection {
    GuideSection {
        heading: heading.into(),
        body: body.into(),
    }
}

/// Version 1 of the guide, published on the organisation's first day.
pub fn first_version() -> GuidePublished {
    GuidePublished {
        version: 1,
        title: "Service User Guide: Home Care".into(),
        sections: vec![
            section(
                "About us",
                "We provide care and support to people in their own homes. Our registered manager is Rita Morgan. Our office is open from 8am to 6pm every day, and someone is on call at all other times.\n\nThis guide tells you what to expect from us and what you can ask of us. Please keep it with your care plan.",
            ),
            section(
                "Your care plan",
                "Your care plan says what support you have agreed with us, what matters to you, and what to do if things change. We write it with you and, if you want, with your family or representative. We review it with you at least once a year, or sooner if your needs change.\n\nA paper copy of your current care plan stays in your home so that you, your family and visiting professionals can read it, unless you tell us you do not want paper copies.",
            ),
            section(
                "Your records and your choices",
                "We keep your care records electronically. You can still have paper copies, and we will talk with you about the choices you have: paper in your home, copies by secure email, or reading your records online.\n\nYou can see your records and add your own notes to them. We can give you your records in the format you need: large print, easy read, braille, audio or plain text. Tell us what works for you.\n\nSeeing your records is free. You will never be charged for access to your care information, including through an app.",
            ),
            section(
                "Who can see your records",
                "You decide who can see what. Your care workers see what they need to support you. You can let family members or other services see some or all of your records, and you can change your mind at any time.\n\nEvery time someone reads your records, it is recorded, and you can ask us who has looked.",
            ),
            section(
                "Medicines",
                "If we help you with medicines, we record each dose electronically. A paper medicines chart (MAR chart) also stays in your home, so that a paramedic or GP can see your medicines quickly in an emergency.",
            ),
            section(
                "If our systems go down",
                "If our electronic system is not available, your care carries on. Your care workers use the paper care plan and medicines chart in your home and write notes on paper. We add those notes to your electronic record afterwards.",
            ),
            section(
                "Compliments, concerns and complaints",
                "Please tell us what we do well and what we could do better. To raise a concern or make a complaint, speak to your care worker, call the office, or write to the registered manager. We will reply within 3 working days.\n\nIf you are not happy with our answer, you can contact the council or the Local Government and Social Care Ombudsman.",
            ),
            section(
                "Contact us",
                "Office: 01632 960123 (8am to 6pm).\nOut of hours: 01632 960124.\nIn an emergency, call 999.",
            ),
        ],
    }
}
