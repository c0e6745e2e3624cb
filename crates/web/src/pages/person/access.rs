//! Who looked at the record, in plain words.

use super::*;

/// "for your care": why, in words for the person.
fn purpose_words(p: Purpose, mine: bool) -> &'static str {
    match (p, mine) {
        (Purpose::DirectCare, true) => "for your care",
        (Purpose::DirectCare, false) => "for care",
        (Purpose::PersonalAccess, true) => "on your behalf",
        (Purpose::PersonalAccess, false) => "on the person's behalf",
        (Purpose::StatutoryReview, _) => "for a council review",
        (Purpose::QualityAssurance, _) => "to check the quality of care",
        (Purpose::Audit, _) => "for an audit",
        (Purpose::Emergency, _) => "in an emergency",
        (Purpose::Handover, _) => "to hand over care",
        (Purpose::Administration, _) => "to run the service",
    }
}

pub(super) fn categories_words(cats: &[Category], mine: bool) -> String {
    let names: Vec<String> = cats
        .iter()
        .map(|c| {
            if mine {
                format!("your {}", c.name())
            } else {
                c.name().to_string()
            }
        })
        .collect();
    match names.as_slice() {
        [] => "the record".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// One access event in plain words: "Sam Carter, care worker, read your care plan for
/// your care".
pub fn access_sentence(item: &wire::AccessItem, mine: bool) -> String {
    let p = &item.event.payload;
    let cats: Vec<Category> = p
        .get("categories")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    let purpose: Option<Purpose> = p
        .get("purpose")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok());
    let themselves = item
        .reader
        .role
        .as_ref()
        .is_some_and(|r| r.0 == Role::Person);
    let who = match (&item.reader.name, &item.reader.role) {
        (_, Some(r)) if mine && r.0 == Role::Person => "You".to_string(),
        (Some(n), Some(r)) => format!("{n}, {},", r.0.name()),
        (None, Some(r)) => format!("{}, {},", item.reader.id, r.0.name()),
        (Some(n), None) => n.clone(),
        (None, None) => item.reader.id.clone(),
    };
    let what = categories_words(&cats, mine);
    let why = if themselves {
        ""
    } else {
        purpose.map(|p| purpose_words(p, mine)).unwrap_or("")
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" {why}")
    };
    match item.event.kind.as_str() {
        "access.refused" => format!("{who} asked to read {what}{why} and was refused"),
        "access.emergency" => {
            format!("{who} used emergency access to {what}; this is flagged for review")
        }
        _ => format!("{who} read {what}{why}"),
    }
}

pub async fn who_looked(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
) -> Response {
    let g = match read(&app, &ctx, &id, &[Category::AccessLog], |a, d, p| {
        latest_access(a, d, p)
    })
    .await
    {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mine = own(&ctx, &id);
    let body = html! {
        (record_header(&ctx, &id, "who-looked", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { (say(&ctx, "Who looked at my record", "Who has looked at my record")) } @else { "Who looked at the record" } }
        p class="lede" { @if mine { (say(&ctx, "Every time someone opens your record, it is written here. This list includes you.", "When someone looks at your record, we write it here. You are on this list too.")) } @else { "Every read and refusal, latest first." } }
        ol class="access-list" {
            @for item in g.data.iter().rev() {
                li { (access_sentence(item, mine)) ", " (time_el(&item.event.recorded_at)) "." }
            }
        }
    };
    ok(
        &ctx,
        if mine {
            "Who looked at my record"
        } else {
            "Who looked"
        },
        &Errors::default(),
        body,
    )
}

/// The latest 200 access events of the record.
fn latest_access(
    app: &App,
    deadline: &careledger_api::blocking::Deadline,
    id: &str,
) -> Result<(Vec<wire::AccessItem>, u32), ApiError> {
    let items = last_items(200, |after| {
        let (h, _) = views::access_log(app, deadline, id, &from(after, 1000))?;
        Ok((h.items, h.next_after))
    })?;
    let n = items.len() as u32;
    Ok((items, n))
}
