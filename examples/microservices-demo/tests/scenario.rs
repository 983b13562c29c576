//! The demo's scenario, as a test: CI fails if a step breaks.

use microservices_demo::{Demo, Options, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_the_scenario_passes() {
    let demo = Demo::start(&Options::default()).await.unwrap();
    let report = scenario(&demo).await.unwrap();
    for s in &report.steps {
        assert!(s.passed, "step failed: {}", s.name);
    }
    assert_eq!(report.steps.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_runs_on_redis_too() {
    // Under CI the Redis run must happen (redis_url fails the test there).
    let Some(url) = warden_tests::redis_url() else {
        return;
    };
    let demo = Demo::start(&Options {
        redis: Some(url),
        ..Options::default()
    })
    .await
    .unwrap();
    let report = scenario(&demo).await.unwrap();
    assert!(report.passed(), "{report:?}");
}
