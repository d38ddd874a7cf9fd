#include <bulwark/channel/cqrs.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {
struct place_order {
    static constexpr std::string_view subject = "orders.place";
    int qty = 0;
};
struct reserve_stock {
    static constexpr std::string_view subject = "stock.reserve";
    using reply_type = bool; // a command may acknowledge with a value
    int qty = 0;
};
struct get_stock {
    static constexpr std::string_view subject = "stock.get";
    using reply_type = int;
    std::string sku;
};
struct count_orders {
    static constexpr std::string_view subject = "orders.count";
};
using commands = bulwark::topics<place_order, reserve_stock>;
using queries = bulwark::topics<get_stock, count_orders>;
} // namespace

TEST_CASE("command_bus runs the one handler of a command", "[channel][cqrs]") {
    bulwark::command_bus<commands> bus;
    CHECK(bus.send(place_order{1}).code() == bulwark::errc::no_responders);
    int placed = 0;
    auto h = bus.handle<place_order>([&](const place_order& c) { placed += c.qty; });
    CHECK(bus.has_handler<place_order>());
    bulwark::outcome<void> r = bus.send(place_order{3});
    CHECK(r.has_value());
    CHECK(placed == 3);
    auto reserve = bus.handle<reserve_stock>([](const reserve_stock& c) { return c.qty < 10; });
    CHECK(bus.send(reserve_stock{5}).value());
    CHECK_FALSE(bus.send(reserve_stock{50}).value());
    h.unsubscribe();
    CHECK(bus.send(place_order{1}).code() == bulwark::errc::no_responders);
}

TEST_CASE("a second command handler is an error", "[channel][cqrs]") {
    bulwark::command_bus<commands> bus;
    auto h = bus.handle<place_order>([](const place_order&) {});
    CHECK_THROWS_AS(bus.handle<place_order>([](const place_order&) {}),
                    bulwark::invalid_argument_error);
    try {
        (void)bus.handle<place_order>([](const place_order&) {});
    } catch (const bulwark::invalid_argument_error& e) {
        CHECK(std::string(e.what()).find("orders.place") != std::string::npos);
    }
    h.unsubscribe(); // once removed, a new handler may register
    auto again = bus.handle<place_order>([](const place_order&) {});
    CHECK(bus.send(place_order{1}).has_value());
}

TEST_CASE("a throwing command handler's exception is in the outcome", "[channel][cqrs]") {
    bulwark::command_bus<commands> bus;
    auto h =
        bus.handle<place_order>([](const place_order&) { throw std::invalid_argument("qty"); });
    auto r = bus.send(place_order{0});
    REQUIRE(r.has_failure());
    CHECK(r.error().holds<std::invalid_argument>());
}

TEST_CASE("query_bus asks the one handler of a query", "[channel][cqrs]") {
    bulwark::manual_clock manual;
    bulwark::query_bus<queries> bus{{.clock = manual}};
    CHECK(bus.ask(get_stock{"a"}).code() == bulwark::errc::no_responders);
    auto h = bus.handle<get_stock>([](const get_stock& q) { return q.sku == "a" ? 7 : 0; });
    CHECK(bus.ask(get_stock{"a"}).value() == 7);
    CHECK(bus.ask(get_stock{"a"}, 50ms).value() == 7);
    CHECK_THROWS_AS(bus.handle<get_stock>([](const get_stock&) { return 1; }),
                    bulwark::invalid_argument_error);
    auto c = bus.handle<count_orders>([&](const count_orders&) {
        manual.advance(1s); // too slow for the caller's deadline
        return 42L;
    });
    CHECK(bus.ask<long>(count_orders{}).value() == 42);
    CHECK(bus.ask<long>(count_orders{}, manual.now() + 10ms).code() == bulwark::errc::timeout);
}
