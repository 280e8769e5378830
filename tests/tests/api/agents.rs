//! `GET …/agents` and `GET …/agents/{name}`.

use agentry_api_contract::paths;
use agentry_tests::api_world::ApiWorld;

use crate::binaries;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_listed_and_read_and_bad_names_are_refused() {
    let world = ApiWorld::start(binaries().await, "api-agents", |_| {}).await;
    let (status, list) = world.get(&paths::fill(paths::AGENTS, &[world.ns()])).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["name"], "worker", "{list}");
    assert_eq!(list["items"][0]["capabilities"][0], "arithmetic");

    let (status, one) = world.get(&paths::fill(paths::AGENT, &[world.ns(), "worker"])).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["role"], "worker");

    let (status, body) = world.get(&paths::fill(paths::AGENT, &[world.ns(), "Not_A_Name"])).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "name");
    let (status, body) = world.get(&paths::fill(paths::AGENT, &[world.ns(), "absent"])).await;
    assert_eq!(status, 404, "{body}");
    world.stop().await;
}
