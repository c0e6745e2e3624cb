//! Handovers: what the provider's staff send to a partner (a district nurse team, a day
//! centre) and receive from them, by the channel agreed with that partner; a handover sent
//! carries only what the person agreed to share with them (the care rules check it). A
//! partner records, on a page of their own, a handover they give the provider about
//! someone who agreed to share with them ([`partner_handover`]); it reads no record.

use super::*;
use careledger_care::event::{HandoverReceived, HandoverSent};
use careledger_care::policy;

fn records_handovers(ctx: &Ctx) -> bool {
    ctx.who.role.is_staff() && policy::may_record(ctx.who.role, "handover.sent")
}

fn line(item: &EventItem, partners: &[wire::HandoverPartner]) -> Markup {
    let p = &item.payload;
    let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let partner = s("partner_id");
    let name = partners
        .iter()
        .find(|x| x.partner_id == partner)
        .map_or(partner.clone(), |x| x.name.clone());
    let channel: Option<careledger_care::Channel> = p
        .get("channel")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok());
    let cats: Vec<Category> = p
        .get("categories")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    html! {
        @if item.kind == "handover.sent" {
            p { strong { "Sent to " (name) } @if let Some(c) = channel { " by " (c.name()) } }
            @if !cats.is_empty() { p class="muted" { "What was shared: " (super::access::categories_words(&cats, false)) } }
        } @else {
            p { strong { "Received from " (name) } @if let Some(c) = channel { " by " (c.name()) } }
        }
        p { (s("summary")) }
        p class="muted" { "Recorded by " (item.actor) }
    }
}

/// The handovers page: the section, and for staff who record handovers what the person
/// agreed to share with each partner (the consent a handover sent must keep to; the care
/// rules check it again). Nobody else is shown the consent here.
pub(super) struct HandoversPage {
    handovers: wire::Handovers,
    may_share: std::collections::BTreeMap<String, Vec<Category>>,
}

fn markup(
    ctx: &Ctx,
    id: &str,
    g: &Granted<HandoversPage>,
    errors: &Errors,
    f: &Form,
    shown: &Shown,
) -> Markup {
    let h = &g.data.handovers;
    let mine = own(ctx, id);
    let consented: Vec<(&wire::HandoverPartner, &Vec<Category>)> = h
        .partners
        .iter()
        .filter_map(|p| g.data.may_share.get(&p.partner_id).map(|c| (p, c)))
        .collect();
    let labels: Vec<(String, String)> = consented
        .iter()
        .map(|(p, cats)| {
            (
                p.partner_id.clone(),
                format!(
                    "{} (by {}; may share: {})",
                    p.name,
                    p.agreed_channel.0.name(),
                    super::access::categories_words(cats, false)
                ),
            )
        })
        .collect();
    let sent_options: Vec<(&str, &str)> = labels
        .iter()
        .map(|(v, l)| (v.as_str(), l.as_str()))
        .collect();
    let all_labels: Vec<(String, String)> = h
        .partners
        .iter()
        .map(|p| {
            (
                p.partner_id.clone(),
                format!("{} (by {})", p.name, p.agreed_channel.0.name()),
            )
        })
        .collect();
    let got_options: Vec<(&str, &str)> = all_labels
        .iter()
        .map(|(v, l)| (v.as_str(), l.as_str()))
        .collect();
    let cat_labels: Vec<String> = super::sharing::SHAREABLE
        .iter()
        .map(|(c, _, _)| {
            let name = c.name();
            name[..1].to_uppercase() + &name[1..]
        })
        .collect();
    let cat_options: Vec<(&str, &str)> = super::sharing::SHAREABLE
        .iter()
        .zip(&cat_labels)
        .map(|((_, v, _), label)| (*v, label.as_str()))
        .collect();
    html! {
        (record_header(ctx, id, "handovers", g.ais_flag.as_deref(), g.flagged))
        h1 { @if mine { "Shared with other services" } @else { "Handovers" } }
        (recorded_notice(shown, "Recorded"))
        @if records_handovers(ctx) {
            @if consented.is_empty() {
                p { "This person has not agreed to share anything with a partner, so nothing can be handed over to one. Record their consent on " a href={ "/people/" (id) "/sharing" } { "Who can see what" } " first." }
            } @else {
                h2 { "Record a handover sent" }
                form method="post" action={ "/people/" (id) "/handovers/sent" } novalidate {
                    (layout::token(ctx))
                    (choice_group(errors, "sent_partner", "Sent to", "radio", &sent_options, &[f.get("sent_partner")]))
                    (choice_group(errors, "sent_categories", "What was shared", "checkbox", &cat_options, &f.all("sent_categories")))
                    (text_area(errors, "sent_summary", "What was handed over", Some("Only what the person agreed to share with them."), f.get("sent_summary")))
                    button type="submit" class="button" { "Record handover sent" }
                }
            }
            @if !got_options.is_empty() {
                h2 { "Record a handover received" }
                form method="post" action={ "/people/" (id) "/handovers/received" } novalidate {
                    (layout::token(ctx))
                    (choice_group(errors, "got_partner", "Received from", "radio", &got_options, &[f.get("got_partner")]))
                    (text_area(errors, "got_summary", "What they told us", None, f.get("got_summary")))
                    button type="submit" class="button" { "Record handover received" }
                }
            }
        }
        h2 { "Latest first" }
        @if h.history.items.is_empty() {
            p { "No handovers recorded." }
        } @else {
            ol class="timeline" reversed {
                @for item in h.history.items.iter().rev() {
                    li {
                        h3 { (time_el(&item.occurred_at)) }
                        (line(item, &h.partners))
                    }
                }
            }
        }
    }
}

async fn render(
    app: &App,
    ctx: &Ctx,
    id: &str,
    errors: &Errors,
    f: &Form,
    shown: &Shown,
) -> Response {
    let staff = records_handovers(ctx);
    section(
        app,
        ctx,
        id,
        &[Category::DailyNotes],
        ("Shared with other services", "Handovers"),
        errors,
        move |a, d, p| {
            let (mut h, _) = views::handovers(a, d, p, &from(None, 1))?;
            h.history.items = last_items(100, |after| {
                let (more, _) = views::handovers(a, d, p, &from(after, 500))?;
                Ok((more.history.items, more.history.next_after))
            })?;
            let n = h.history.items.len() as u32;
            let may_share = if staff {
                a.ledger.read(|s| {
                    s.person(p).map_or_else(Default::default, |person| {
                        person
                            .sharing
                            .iter()
                            .filter(|(_, c)| c.given && !c.categories.is_empty())
                            .map(|(pid, c)| (pid.clone(), c.categories.clone()))
                            .collect()
                    })
                })?
            } else {
                Default::default()
            };
            Ok((
                HandoversPage {
                    handovers: h,
                    may_share,
                },
                n,
            ))
        },
        |g| markup(ctx, id, g, errors, f, shown),
    )
    .await
}

pub async fn handovers(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    render(
        &app,
        &ctx,
        &id,
        &Errors::default(),
        &Form::default(),
        &shown,
    )
    .await
}

/// The channel agreed with `partner`, if they are one.
fn agreed(app: &App, partner: &str) -> Option<careledger_care::Channel> {
    app.ledger
        .read(|s| s.partners.get(partner).map(|p| p.agreed_channel))
        .ok()
        .flatten()
}

async fn record_or_show(
    app: &App,
    ctx: &Ctx,
    id: &str,
    event: CareEvent,
    fields: (&str, &str, &str),
    f: &Form,
) -> Response {
    let (partner_field, categories_field, summary_field) = fields;
    match record(app, &ctx.who, Some(id), None, event, None).await {
        Ok(r) => {
            Redirect::to(&format!("/people/{id}/handovers?recorded={}", r.seq)).into_response()
        }
        Err(e) if is_form_error(&e) => {
            let mut errors = Errors::default();
            let field = match field_of(&e, "partner_id").as_str() {
                "categories" => categories_field,
                "summary" => summary_field,
                _ => partner_field,
            };
            errors.add(field, e.detail);
            render(app, ctx, id, &errors, f, &Shown::default()).await
        }
        Err(e) => error_page(Some(ctx), &e),
    }
}

fn staff_only(ctx: &Ctx) -> Option<Response> {
    (!records_handovers(ctx)).then(|| {
        error_page(
            Some(ctx),
            &ApiError::forbidden(format!(
                "{} does not record handovers here",
                ctx.who.role.with_article()
            )),
        )
    })
}

pub async fn record_sent(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    if let Some(r) = staff_only(&ctx) {
        return r;
    }
    let mut errors = Errors::default();
    let partner = f.get("sent_partner").to_string();
    let channel = agreed(&app, &partner);
    if channel.is_none() {
        errors.add("sent_partner", "Select who it was sent to");
    }
    let categories = super::sharing::chosen(&f, "sent_categories", true);
    if categories.is_empty() {
        errors.add("sent_categories", "Select what was shared");
    }
    if f.get("sent_summary").trim().is_empty() {
        errors.add("sent_summary", "Enter what was handed over");
    }
    let (true, Some(channel)) = (errors.is_empty(), channel) else {
        return render(&app, &ctx, &id, &errors, &f, &Shown::default()).await;
    };
    let event = CareEvent::HandoverSent(HandoverSent {
        partner_id: partner,
        categories,
        summary: f.get("sent_summary").trim().to_string(),
        channel,
    });
    record_or_show(
        &app,
        &ctx,
        &id,
        event,
        ("sent_partner", "sent_categories", "sent_summary"),
        &f,
    )
    .await
}

pub async fn record_received(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    if let Some(r) = staff_only(&ctx) {
        return r;
    }
    let mut errors = Errors::default();
    let partner = f.get("got_partner").to_string();
    let channel = agreed(&app, &partner);
    if channel.is_none() {
        errors.add("got_partner", "Select who it came from");
    }
    if f.get("got_summary").trim().is_empty() {
        errors.add("got_summary", "Enter what they told you");
    }
    let (true, Some(channel)) = (errors.is_empty(), channel) else {
        return render(&app, &ctx, &id, &errors, &f, &Shown::default()).await;
    };
    let event = CareEvent::HandoverReceived(HandoverReceived {
        partner_id: partner,
        summary: f.get("got_summary").trim().to_string(),
        channel,
    });
    record_or_show(
        &app,
        &ctx,
        &id,
        event,
        ("got_partner", "got_partner", "got_summary"),
        &f,
    )
    .await
}

// ------------------------------------------------------------------ the partner's own page

fn partner_form(
    ctx: &Ctx,
    id: &str,
    channel: &str,
    errors: &Errors,
    f: &Form,
    recorded: Option<u64>,
) -> Response {
    let body = html! {
        h1 { "Hand over about " (id) }
        @if let Some(seq) = recorded { (layout::notice(&format!("Handed over (event {seq} in the ledger). The provider sees it in the person's record."))) }
        p { "What you write here goes to the provider and into " (id) "'s record, as a handover from you by " (channel) ", the way agreed with the provider." }
        form method="post" novalidate {
            (layout::token(ctx))
            (text_area(errors, "summary", "What you want the provider to know", Some("For example: dressing changed, next visit Tuesday, please watch for swelling."), f.get("summary")))
            button type="submit" class="button" { "Hand over" }
        }
        p { a href="/people" { "Back to the people you work with" } }
    };
    ok(ctx, "Hand over to the provider", errors, body)
}

/// The partner's agreed channel, if `person` agreed to share with this partner.
fn partner_may_hand_over(
    app: &App,
    ctx: &Ctx,
    person: &str,
) -> Result<careledger_care::Channel, ApiError> {
    let found = app.ledger.read(|s| {
        let agreed = s
            .person(person)
            .and_then(|p| p.sharing.get(&ctx.who.id))
            .is_some_and(|c| c.given);
        s.partners
            .get(&ctx.who.id)
            .map(|p| (agreed, p.agreed_channel))
    })?;
    match found {
        Some((true, channel)) if ctx.who.role == Role::Partner => Ok(channel),
        _ => Err(ApiError::forbidden(
            "a partner hands over only about people who agreed to share with them",
        )),
    }
}

pub async fn partner_handover_page(
    State(app): State<App>,
    Viewer(ctx): Viewer,
    Path(id): Path<String>,
    Query(done): Query<Shown>,
) -> Response {
    match partner_may_hand_over(&app, &ctx, &id) {
        Ok(channel) => partner_form(
            &ctx,
            &id,
            channel.name(),
            &Errors::default(),
            &Form::default(),
            done.recorded,
        ),
        Err(e) => error_page(Some(&ctx), &e),
    }
}

pub async fn partner_handover(
    State(app): State<App>,
    Path(id): Path<String>,
    Posted(ctx, f): Posted,
) -> Response {
    let channel = match partner_may_hand_over(&app, &ctx, &id) {
        Ok(c) => c,
        Err(e) => return error_page(Some(&ctx), &e),
    };
    let mut errors = Errors::default();
    if f.get("summary").trim().is_empty() {
        errors.add("summary", "Enter what you want the provider to know");
        return partner_form(&ctx, &id, channel.name(), &errors, &f, None);
    }
    let event = CareEvent::HandoverReceived(HandoverReceived {
        partner_id: ctx.who.id.clone(),
        summary: f.get("summary").trim().to_string(),
        channel,
    });
    match record(&app, &ctx.who, Some(&id), None, event, None).await {
        Ok(r) => Redirect::to(&format!("/people/{id}/handover?recorded={}", r.seq)).into_response(),
        Err(e) if is_form_error(&e) => {
            errors.add("summary", e.detail);
            partner_form(&ctx, &id, channel.name(), &errors, &f, None)
        }
        Err(e) => error_page(Some(&ctx), &e),
    }
}
