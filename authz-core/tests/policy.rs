//! The policy model has no fail-open: every combination of `not` / `any` / `all` over
//! synchronous and asynchronous parts gives, with `evaluate_async`, the truth table's answer;
//! and `evaluate` (synchronous) is never `Ok` where the truth is "unmet", never inverts an
//! async part it could not run, and says so when it refuses for that reason.

#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report
#![allow(deprecated)] // `Requirement::check_async` stays tested, fail-closed, while it is deprecated

mod common;

use authz_core::{Principal, Requirement as R};
use common::{hs, verifier};

fn alice() -> Principal {
    verifier()
        .verify(&hs(&common::claims(r#""roles":["editor"]"#)))
        .unwrap()
}

/// A requirement and the truth of it for alice, and whether it has an async part.
#[derive(Clone)]
struct Case {
    requirement: R,
    truth: bool,
    is_async: bool,
    text: String,
}

fn leaves() -> Vec<Case> {
    let sync = |met: bool| Case {
        requirement: R::role(if met { "editor" } else { "admin" }),
        truth: met,
        is_async: false,
        text: format!("sync({met})"),
    };
    let asynchronous = |met: bool| Case {
        requirement: R::check_async(
            if met { "yes" } else { "no" },
            move |_: Principal| async move {
                tokio::task::yield_now().await;
                met
            },
        ),
        truth: met,
        is_async: true,
        text: format!("async({met})"),
    };
    vec![
        sync(true),
        sync(false),
        asynchronous(true),
        asynchronous(false),
    ]
}

/// Every leaf, `not` of every case, and `any` / `all` of every pair, two levels deep.
fn cases() -> Vec<Case> {
    let mut level = leaves();
    for _ in 0..2 {
        let mut next = level.clone();
        for a in &level {
            next.push(Case {
                requirement: R::not(a.requirement.clone()),
                truth: !a.truth,
                is_async: a.is_async,
                text: format!("not({})", a.text),
            });
        }
        let small: Vec<&Case> = level.iter().take(8).collect();
        for a in &small {
            for b in &small {
                let is_async = a.is_async || b.is_async;
                next.push(Case {
                    requirement: R::any([a.requirement.clone(), b.requirement.clone()]),
                    truth: a.truth || b.truth,
                    is_async,
                    text: format!("any({}, {})", a.text, b.text),
                });
                next.push(Case {
                    requirement: R::all([a.requirement.clone(), b.requirement.clone()]),
                    truth: a.truth && b.truth,
                    is_async,
                    text: format!("all({}, {})", a.text, b.text),
                });
            }
        }
        level = next;
    }
    level
}

#[tokio::test]
async fn every_combination_of_not_any_all_over_sync_and_async_parts() {
    let p = alice();
    let cases = cases();
    assert!(cases.len() > 200, "{} cases", cases.len());
    let (mut undecided, mut decided) = (0, 0);
    for case in &cases {
        assert_eq!(case.requirement.is_async(), case.is_async, "{}", case.text);
        let awaited = case.requirement.evaluate_async(&p).await;
        assert_eq!(
            awaited.is_ok(),
            case.truth,
            "evaluate_async of {}",
            case.text
        );
        if let Err(denied) = &awaited {
            assert!(!denied.needs_async(), "{}", case.text);
        }
        match case.requirement.evaluate(&p) {
            Ok(()) => {
                assert!(case.truth, "evaluate passed {}, which is unmet", case.text);
                decided += 1;
            }
            Err(denied) if denied.needs_async() => {
                assert!(case.is_async, "{} has no async part", case.text);
                assert!(denied.message().contains("evaluate_async"), "{denied}");
                undecided += 1;
            }
            Err(_) => {
                assert!(!case.truth, "evaluate refused {}, which is met", case.text);
                decided += 1;
            }
        }
        if !case.is_async {
            assert_eq!(
                case.requirement.evaluate(&p).is_ok(),
                case.truth,
                "a synchronous requirement is always decided: {}",
                case.text
            );
        }
    }
    assert!(undecided > 30 && decided > 30, "{undecided} / {decided}");
}

#[test]
fn not_of_an_async_check_is_not_met_synchronously() {
    let p = alice();
    let never = R::check_async("never", |_: Principal| async { false });
    let always = R::check_async("always", |_: Principal| async { true });
    for check in [never, always] {
        let inverted = R::not(check.clone());
        let denied = inverted.evaluate(&p).unwrap_err();
        assert!(denied.needs_async(), "{denied}");
        let denied = R::not(R::not(check.clone())).evaluate(&p).unwrap_err();
        assert!(denied.needs_async());
        let denied = R::any([R::role("admin"), R::not(check.clone())])
            .evaluate(&p)
            .unwrap_err();
        assert!(denied.needs_async());
    }
}

#[test]
fn decided_parts_still_decide_beside_an_async_one() {
    let p = alice();
    let pending = || R::check_async("pending", |_: Principal| async { true });
    assert!(R::any([R::role("editor"), pending()]).evaluate(&p).is_ok());
    let denied = R::all([pending(), R::role("admin")])
        .evaluate(&p)
        .unwrap_err();
    assert!(!denied.needs_async());
    assert_eq!(denied.requirement(), r#"role = "admin""#);
    assert!(
        R::not(R::all([pending(), R::role("admin")]))
            .evaluate(&p)
            .is_ok()
    );
}
