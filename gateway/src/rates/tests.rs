//! Unit tests of the rate limiters and of the limits shared by a cluster.

use super::*;

#[test]
fn each_limit_refuses_past_its_rate_or_count_and_says_which() {
    let limits = RateLimits::new(
        &RateLimitsConfig {
            per_principal_opt: Some(Rate {
                per_sec: 1,
                burst: 2,
            }),
            per_service_opt: None,
            max_concurrent_calls_per_principal_opt: Some(1),
        },
        &[],
    );
    let first = limits.admit("alice", "fs").expect("first");
    let refused = limits.admit("alice", "fs").expect_err("in flight");
    assert!(
        refused
            .to_string()
            .contains("max_concurrent_calls_per_principal")
    );
    drop(first);
    let refused = limits.admit("alice", "fs").expect_err("rate");
    assert!(
        refused
            .to_string()
            .contains("rate_limits.per_principal_per_sec"),
        "{refused}"
    );
    assert!(
        matches!(refused, GatewayError::RateLimited { retry_after_ms, .. } if retry_after_ms > 0)
    );
    assert!(
        limits.admit("bob", "fs").is_ok(),
        "another principal has its own rate"
    );
    let by_service = RateLimits::new(
        &RateLimitsConfig {
            per_service_opt: Some(Rate {
                per_sec: 1,
                burst: 1,
            }),
            ..RateLimitsConfig::default()
        },
        &[],
    );
    assert!(by_service.admit("alice", "fs").is_ok());
    let refused = by_service.admit("bob", "fs").expect_err("service rate");
    assert!(refused.to_string().contains("service fs"));
}

#[test]
fn limits_are_named_per_subject_and_divided_between_replicas() {
    let config = crate::config::parse_toml(
        r#"
        version = 1
        [rate_limits]
        per_principal_per_sec = 10
        per_principal_burst = 4
        per_service_per_sec = 100
        [[services]]
        name = "search"
        endpoint = "http://127.0.0.1:7003"
        rate_limits = { per_principal_per_sec = 1 }
        "#,
    )
    .expect("parses")
    .validate(Some("a-token-long-enough-for-the-check-0000"))
    .expect("valid");
    let limits = RateLimits::new(&config.rate_limits, &config.services);
    let ids: Vec<String> = limits
        .limits_of("alice", "search")
        .into_iter()
        .map(|limit| limit.id)
        .collect();
    assert_eq!(
        ids,
        [
            "principal:alice",
            "service-principal:search:alice",
            "service:search"
        ]
    );
    assert_eq!(limits.limits_of("bob", "fs").len(), 2);
    // Two replicas: each lets through half the burst (2 of 4) at once.
    let half = limits.divided(2);
    assert!(half.check_rates("carol", "fs").is_ok());
    assert!(half.check_rates("carol", "fs").is_ok());
    let refused = half.check_rates("carol", "fs").expect_err("half the burst");
    assert!(
        refused
            .to_string()
            .contains("rate_limits.per_principal_per_sec")
    );
    // Never less than one call at once, however many replicas.
    let tenth = limits.divided(50);
    assert!(tenth.check_rates("dave", "fs").is_ok());
    assert!(tenth.check_rates("dave", "fs").is_err());
    assert!(
        half.admit_in_flight("carol").expect("no cap").is_none(),
        "in-flight caps stay each replica's own"
    );
    let generation = limits.generation();
    limits.set_services(&config.services);
    assert_ne!(limits.generation(), generation);
}

#[test]
fn a_service_with_its_own_rates_is_limited_by_them() {
    let config = crate::config::parse_toml(
        r#"
        version = 1
        [rate_limits]
        per_service_per_sec = 100
        [[services]]
        name = "fetch"
        endpoint = "http://127.0.0.1:7002"
        rate_limits = { per_sec = 1 }
        [[services]]
        name = "search"
        endpoint = "http://127.0.0.1:7003"
        rate_limits = { per_principal_per_sec = 1 }
        [[services]]
        name = "fs"
        endpoint = "http://127.0.0.1:7001"
        "#,
    )
    .expect("parses")
    .validate(Some("a-token-long-enough-for-the-check-0000"))
    .expect("valid");
    let limits = RateLimits::new(&config.rate_limits, &config.services);
    assert!(limits.admit("alice", "fetch").is_ok());
    let refused = limits.admit("bob", "fetch").expect_err("fetch's own rate");
    assert!(
        refused
            .to_string()
            .contains("(services[0].rate_limits.per_sec)"),
        "{refused}"
    );
    assert!(limits.admit("alice", "search").is_ok());
    let refused = limits
        .admit("alice", "search")
        .expect_err("alice's rate at search");
    assert!(
        refused
            .to_string()
            .contains("principal alice reached (services[1].rate_limits.per_principal_per_sec)"),
        "{refused}"
    );
    assert!(limits.admit("bob", "search").is_ok(), "bob has his own");
    for _ in 0..5 {
        assert!(
            limits.admit("alice", "fs").is_ok(),
            "fs has only the shared 100/s"
        );
    }
}
