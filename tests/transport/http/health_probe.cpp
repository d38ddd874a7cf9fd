// The HTTP health probe as the registry's active health check, against our own servers.

#include <bulwark/balance/health.hpp>
#include <bulwark/transport/http/health_probe.hpp>

#include "support/http_server.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using bulwark::test::http_server;
using bulwark::test::reply;
using bulwark::test::request_info;

TEST_CASE("http health probe: 2xx is healthy; 5xx, slow and refused are not",
          "[transport][http][health]") {
    http_server up([](const request_info& r) {
        return r.target == "/healthz" ? reply::ok() : reply::status_of(404);
    });
    http_server sick([](const request_info&) { return reply::status_of(503); });
    http_server slow([](const request_info&) { return reply::slow(30s); });
    std::string refused;
    {
        http_server gone;
        refused = gone.address();
    }
    bulwark::registry reg{{.address = up.address()},
                          {.address = sick.address()},
                          {.address = slow.address()},
                          {.address = refused}};
    bulwark::http_transport http;
    bulwark::health_checker checker{
        reg,
        bulwark::http_health_probe{&http, "/healthz"},
        {.interval = 1s, .timeout = 200ms, .healthy_threshold = 1, .unhealthy_threshold = 1}};
    checker.check_now();
    CHECK(reg.find(up.address())->healthy());
    CHECK_FALSE(reg.find(sick.address())->healthy());
    CHECK_FALSE(reg.find(slow.address())->healthy());
    CHECK_FALSE(reg.find(refused)->healthy());
    CHECK(up.last_request().target == "/healthz");

    // The sick one recovers: the next round brings it back.
    sick.set_handler([](const request_info&) { return reply::ok(); });
    checker.check_now();
    CHECK(reg.find(sick.address())->healthy());
    CHECK_FALSE(reg.find(slow.address())->healthy());
}
