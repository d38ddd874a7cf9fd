#include <bulwark/channel/bus.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// Named (not anonymous): clang 14 flags static members of internal types as unused.
namespace request_reply_test {
struct get_price {
    static constexpr std::string_view subject = "prices.get";
    using reply_type = double;
    std::string sku;
};
struct ping { // no declared reply type: each request names it
    static constexpr std::string_view subject = "ping";
};
using topics = bulwark::topics<get_price, ping>;
} // namespace request_reply_test
using namespace request_reply_test;

TEST_CASE("request without responders fails at once with no_responders", "[channel][request]") {
    bulwark::manual_clock manual;
    bulwark::bus<topics> bus{{.clock = manual}};
    auto r = bus.request(get_price{"a"}, 1s);
    REQUIRE(r.has_failure());
    CHECK(r.code() == bulwark::errc::no_responders);
    CHECK(manual.now() == bulwark::time_point{}); // no waiting
}

TEST_CASE("the first reply wins; declining responders are passed over", "[channel][request]") {
    bulwark::bus<topics> bus;
    int second_calls = 0;
    auto decline = bus.respond<get_price>(
        [](const get_price&) -> std::optional<double> { return std::nullopt; });
    auto first =
        bus.respond<get_price>([](const get_price& q) { return q.sku == "a" ? 1.5 : 2.5; });
    auto second = bus.respond<get_price>([&](const get_price&) {
        ++second_calls;
        return 9.0;
    });
    CHECK(bus.responder_count<get_price>() == 3);
    CHECK(bus.request(get_price{"a"}).value() == 1.5);
    CHECK(bus.request<get_price, double>(get_price{"b"}, 100ms).value() == 2.5);
    CHECK(second_calls == 0);
    first.unsubscribe();
    CHECK(bus.request(get_price{"a"}).value() == 9.0);
}

TEST_CASE("responders see the request's correlation id in the envelope", "[channel][request]") {
    bulwark::bus<topics> bus;
    bulwark::message_id seen;
    auto r = bus.respond<get_price>([&](const bulwark::envelope<get_price>& e) {
        seen = e.correlation_id();
        return 1.0;
    });
    bulwark::message_metadata md;
    md.correlation_id = bulwark::message_id::generate();
    CHECK(bus.request(get_price{"a"}, bulwark::no_deadline, md).value() == 1.0);
    CHECK(seen == md.correlation_id);
}

TEST_CASE("a reply after the deadline is dropped: timeout", "[channel][request]") {
    bulwark::manual_clock manual;
    bulwark::bus<topics> bus{{.clock = manual}};
    auto slow = bus.respond<get_price>([&](const get_price&) {
        manual.advance(200ms);
        return 1.0;
    });
    auto r = bus.request(get_price{"a"}, 100ms);
    CHECK(r.code() == bulwark::errc::timeout);
    // with a longer deadline the same responder is in time
    CHECK(bus.request(get_price{"a"}, 1s).value() == 1.0);
    // a deadline already past: timeout without calling the responder
    auto past = bus.request(get_price{"a"}, manual.now());
    CHECK(past.code() == bulwark::errc::timeout);
}

TEST_CASE("a throwing responder answers with its exception", "[channel][request]") {
    bulwark::bus<topics> bus;
    auto r = bus.respond<get_price>(
        [](const get_price&) -> double { throw std::runtime_error("db down"); });
    auto o = bus.request(get_price{"a"});
    REQUIRE(o.has_failure());
    CHECK(o.error().holds<std::runtime_error>());
}

TEST_CASE("undeclared reply types are named by the request", "[channel][request]") {
    bulwark::bus<topics> bus;
    auto r = bus.respond<ping>([](const ping&) { return std::string("pong"); });
    CHECK(bus.request<ping, std::string>(ping{}).value() == "pong");
    // a responder of another reply type does not answer
    CHECK(bus.request<ping, int>(ping{}).code() == bulwark::errc::no_responders);
}

TEST_CASE("a request allocates nothing beyond the reply", "[channel][request]") {
    bulwark::bus<topics> bus;
    auto r = bus.respond<get_price>([](const get_price&) { return 2.0; });
    get_price q{"sku"};
    (void)bus.request(q);
    bulwark::test::alloc_scope scope;
    auto v = bus.request(q, 1s);
    CHECK(v.value() == 2.0);
    CHECK(scope.count() == 0);
}

TEST_CASE("requests race with responders coming and going", "[channel][request][concurrency]") {
    bulwark::bus<topics> bus;
    auto stable = bus.respond<ping>([](const ping&) { return 1; });
    std::atomic<bool> stop{false};
    std::atomic<int> wrong{0}, answered{0};
    std::vector<std::thread> requesters;
    for (int t = 0; t < 4; ++t)
        requesters.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {
                auto r = bus.request<ping, int>(ping{});
                if (!r.has_value() || (*r != 1 && *r != 2))
                    wrong.fetch_add(1);
                else
                    answered.fetch_add(1);
            }
        });
    std::thread churn([&] {
        while (!stop.load()) {
            auto extra = bus.respond<ping>([](const ping&) { return 2; });
            std::this_thread::yield();
        }
    });
    for (auto& t : requesters)
        t.join();
    stop = true;
    churn.join();
    CHECK(wrong.load() == 0);
    CHECK(answered.load() == 4 * 5000);
}
