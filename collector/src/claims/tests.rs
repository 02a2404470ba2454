use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().expect("an instant")
}

fn day(text: &str) -> Date {
    text.parse().expect("a date")
}

fn credit(revision: u32, amount: &str) -> RevisedCredit<'static> {
    RevisedCredit {
        contract: "acme-api",
        vendor: "Acme Cloud",
        period: "2026-10",
        revision,
        amount: amount.parse().expect("an amount"),
        currency: "USD",
        deadline: Some(at("2026-12-31T00:00:00Z")),
    }
}

fn opened() -> Claim {
    follow_revision(None, &credit(1, "100.00"), at("2026-11-01T00:10:00Z")).expect("a claim opens").0
}

#[test]
fn a_period_with_credit_opens_a_claim_and_one_without_does_not() {
    assert_eq!(follow_revision(None, &credit(1, "0"), at("2026-11-01T00:10:00Z")), None);
    let (claim, event) = follow_revision(None, &credit(1, "100.00"), at("2026-11-01T00:10:00Z")).unwrap();
    assert_eq!((claim.state, claim.version, claim.owed.to_string().as_str()), (ClaimState::Owed, 1, "100.00"));
    assert_eq!((event.action.as_str(), event.actor.as_str(), event.from), ("open", COLLECTOR_ACTOR, None));
    assert_eq!(event.detail, "revision 1: 100.00 USD owed");
    assert_eq!(follow_revision(Some(&claim), &credit(1, "100.00"), at("2026-11-02T00:00:00Z")), None, "same revision");
}

#[test]
fn the_lifecycle_runs_owed_submitted_accepted_paid_and_each_step_is_recorded() {
    let now = at("2026-11-20T12:00:00Z");
    let submit = ClaimAction::Submit { on: day("2026-11-19"), reference: " CASE-1234 ".into() };
    let (claim, event) = apply(&opened(), &submit, "finance", now).unwrap();
    assert_eq!((claim.state, claim.version, claim.reference.as_deref()), (ClaimState::Submitted, 2, Some("CASE-1234")));
    assert_eq!(
        (event.from, event.to, event.actor.as_str()),
        (Some(ClaimState::Owed), ClaimState::Submitted, "finance")
    );
    assert_eq!(event.detail, "submitted on 2026-11-19, reference CASE-1234");
    let (claim, _) = apply(&claim, &ClaimAction::Accept { on: day("2026-11-20") }, "finance", now).unwrap();
    let pay = ClaimAction::Pay { on: day("2026-11-20"), amount: "80".parse().unwrap() };
    let (claim, event) = apply(&claim, &pay, "finance", now).unwrap();
    assert_eq!(
        (claim.state, claim.paid_amount.map(|amount| amount.to_string())),
        (ClaimState::Paid, Some("80.00".into()))
    );
    assert_eq!(event.detail, "80.00 USD received on 2026-11-20 (owed 100.00 USD)");
    assert_eq!(claim.version, 4);
}

#[test]
fn actions_out_of_order_are_refused_naming_the_states_they_apply_to() {
    let now = at("2026-11-20T12:00:00Z");
    let refused = apply(&opened(), &ClaimAction::Accept { on: day("2026-11-20") }, "finance", now).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "a claim that is owed cannot be accepted; accepted applies to a claim that is submitted"
    );
    let pay = ClaimAction::Pay { on: day("2026-11-20"), amount: "1".parse().unwrap() };
    assert!(matches!(apply(&opened(), &pay, "finance", now), Err(ActionRefused::State { .. })));
}

#[test]
fn a_rejected_claim_may_be_submitted_again() {
    let now = at("2026-11-20T12:00:00Z");
    let submit = ClaimAction::Submit { on: day("2026-11-19"), reference: "CASE-1".into() };
    let (claim, _) = apply(&opened(), &submit, "finance", now).unwrap();
    let reject = ClaimAction::Reject { on: day("2026-11-20"), reason: "outside the covered service".into() };
    let (claim, _) = apply(&claim, &reject, "finance", now).unwrap();
    assert_eq!(claim.rejection_reason.as_deref(), Some("outside the covered service"));
    let appeal = ClaimAction::Submit { on: day("2026-11-20"), reference: "CASE-2".into() };
    let (claim, _) = apply(&claim, &appeal, "finance", now).unwrap();
    assert_eq!((claim.state, claim.rejection_reason, claim.decided_on), (ClaimState::Submitted, None, None));
}

#[test]
fn bad_fields_are_refused_naming_the_field() {
    let now = at("2026-11-20T12:00:00Z");
    let cases = [
        (ClaimAction::Submit { on: day("2026-11-19"), reference: "  ".into() }, "reference: must not be empty"),
        (ClaimAction::Submit { on: day("2026-11-19"), reference: "a\nb".into() }, "reference: must be one line"),
        (ClaimAction::Submit { on: day("2026-11-21"), reference: "X".into() }, "on: 2026-11-21 is after today"),
        (ClaimAction::Submit { on: day("2026-11-19"), reference: "x".repeat(501) }, "reference: longer than 500"),
    ];
    for (action, expected) in cases {
        let refused = apply(&opened(), &action, "finance", now).unwrap_err().to_string();
        assert!(refused.starts_with(expected), "{refused}");
    }
    let submitted =
        apply(&opened(), &ClaimAction::Submit { on: day("2026-11-19"), reference: "X".into() }, "f", now).unwrap().0;
    for amount in ["0", "-5", "1.005"] {
        let pay = ClaimAction::Pay { on: day("2026-11-20"), amount: amount.parse().unwrap() };
        let refused = apply(&submitted, &pay, "finance", now).unwrap_err().to_string();
        assert!(refused.starts_with("amount: "), "{refused}");
    }
}

#[test]
fn a_revision_changes_the_amount_owed_and_voids_an_unclaimed_claim_left_without_credit() {
    let now = at("2026-11-03T00:00:00Z");
    let (revised, event) = follow_revision(Some(&opened()), &credit(2, "250.00"), now).unwrap();
    assert_eq!((revised.state, revised.revision, revised.owed.to_string().as_str()), (ClaimState::Owed, 2, "250.00"));
    assert_eq!(event.detail, "revision 2: 250.00 USD owed (was 100.00 USD by revision 1)");
    let (voided, event) = follow_revision(Some(&revised), &credit(3, "0.00"), now).unwrap();
    assert_eq!((voided.state, event.from, event.to), (ClaimState::Void, Some(ClaimState::Owed), ClaimState::Void));
    let (restored, _) = follow_revision(Some(&voided), &credit(4, "10.00"), now).unwrap();
    assert_eq!(restored.state, ClaimState::Owed);
    let submitted =
        apply(&restored, &ClaimAction::Submit { on: day("2026-11-02"), reference: "X".into() }, "f", now).unwrap().0;
    let (still, _) = follow_revision(Some(&submitted), &credit(5, "0"), now).unwrap();
    assert_eq!(still.state, ClaimState::Submitted, "a claim already made keeps its state; the event says what changed");
}

#[test]
fn overdue_means_owed_past_the_deadline() {
    let claim = opened();
    assert!(!claim.overdue(at("2026-12-30T23:59:59Z")));
    assert!(claim.overdue(at("2026-12-31T00:00:00Z")));
    let submitted = apply(
        &claim,
        &ClaimAction::Submit { on: day("2026-11-02"), reference: "X".into() },
        "f",
        at("2026-11-03T00:00:00Z"),
    )
    .unwrap()
    .0;
    assert!(!submitted.overdue(at("2027-01-05T00:00:00Z")));
}

#[test]
fn actions_parse_from_the_api_body_and_unknown_fields_are_refused() {
    let pay: ClaimAction = serde_json::from_str(r#"{"action":"pay","on":"2026-11-20","amount":"120.50"}"#).unwrap();
    assert_eq!(pay, ClaimAction::Pay { on: day("2026-11-20"), amount: "120.50".parse().unwrap() });
    let error = serde_json::from_str::<ClaimAction>(r#"{"action":"accept","on":"2026-11-20","amount":1}"#).unwrap_err();
    assert!(error.to_string().contains("unknown field `amount`"), "{error}");
}

#[test]
fn totals_sum_each_currency_by_where_its_claims_stand() {
    let now = at("2027-01-10T00:00:00Z");
    let owed = opened();
    let submitted =
        apply(&owed, &ClaimAction::Submit { on: day("2026-11-19"), reference: "A".into() }, "f", now).unwrap().0;
    let paid_last_year =
        apply(&submitted, &ClaimAction::Pay { on: day("2026-12-30"), amount: "100.00".parse().unwrap() }, "f", now)
            .unwrap()
            .0;
    let paid =
        apply(&submitted, &ClaimAction::Pay { on: day("2027-01-05"), amount: "90.00".parse().unwrap() }, "f", now)
            .unwrap()
            .0;
    let mut euros = opened();
    euros.currency = "EUR".into();
    let totals = totals(&[owed, submitted, paid_last_year, paid, euros], now);
    assert_eq!(totals.iter().map(|sums| sums.currency.as_str()).collect::<Vec<_>>(), ["EUR", "USD"]);
    let usd = &totals[1];
    let shown = |amount: Decimal| amount.to_string();
    assert_eq!(
        (shown(usd.owed), shown(usd.overdue), shown(usd.in_flight), shown(usd.recovered_this_year)),
        ("100.00".into(), "100.00".into(), "100.00".into(), "90.00".into()),
        "the owed claim is past its 2026-12-31 deadline; only this year's payment counts"
    );
    assert_eq!((usd.claims[&ClaimState::Paid], usd.overdue_claims), (2, 1));
}
