//! A person's documents from their pages: each section's print links, and the answer to
//! one (the same gate read as `GET /v1/people/{id}/documents/{kind}`: one access event,
//! then the PDF or text).

use careledger_api::documents::{self, Asked};

use super::*;

#[derive(serde::Deserialize, Default)]
pub struct DocumentQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    days: Option<String>,
}

/// `GET /people/{id}/documents/{kind}`: the document, or a page saying why not.
pub async fn document(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path((id, kind)): Path<(String, String)>,
    Query(q): Query<DocumentQuery>,
) -> Response {
    let days = match q.days.as_deref().map(str::parse::<u64>).transpose() {
        Ok(d) => d,
        Err(_) => {
            let e = ApiError::bad_request("days", "days must be a whole number of days");
            return error_page(Some(&ctx), &e);
        }
    };
    let asked = match Asked::parse(&kind, q.format.as_deref(), days) {
        Ok(a) => a,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    match documents::send(&app, &ctx.who, &id, asked, default_purpose(ctx.who.role)).await {
        Ok(r) => r,
        Err(e) => error_page(Some(&ctx), &e),
    }
}

/// The links that print `kind` (`what`: "the care plan") in each format, shown only to a
/// viewer the policy allows every category the document prints (a link that could only be
/// refused would put a refusal in the person's access log for a click).
pub(super) fn print_links(app: &App, ctx: &Ctx, id: &str, kind: &str, what: &str) -> Markup {
    let Some(doc) = documents::PERSON_DOCUMENTS.iter().find(|k| k.name == kind) else {
        return html! {};
    };
    let principal = careledger_care::policy::Principal {
        id: &ctx.who.id,
        role: ctx.who.role,
    };
    let now = careledger_store::now_us();
    let allowed = app
        .ledger
        .read(|s| {
            careledger_care::policy::decide(
                s,
                &principal,
                id,
                doc.categories,
                default_purpose(ctx.who.role),
                now,
            )
            .is_allowed()
        })
        .unwrap_or(false);
    if !allowed || app.documents.get().is_none() {
        return html! {};
    }
    let email = super::email::email_form(app, ctx, id, kind, what);
    let href = |format: &str| format!("/people/{id}/documents/{kind}?format={format}");
    html! {
        section class="print" aria-labelledby={ "print-" (kind) } {
            h2 id={ "print-" (kind) } { "Print " (what) }
            p {
                "For the home file, or to give to someone. Each copy says which version of the \
                 ledger it came from, so anyone can check it is still current."
            }
            ul class="print-links" {
                li { a href={ "/people/" (id) "/documents/" (kind) } { "In the person's own format" } }
                li { a href=(href("pdf")) { "Standard print (PDF)" } }
                li { a href=(href("large-print")) { "Large print (PDF)" } }
                li { a href=(href("easy-read")) { "Easy read (PDF)" } }
                li { a href=(href("text")) { "Plain text, for a screen reader or braille" } }
            }
        }
        (email)
    }
}
