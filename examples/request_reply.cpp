// Request/reply and CQRS over the in-process bus: first reply wins, no responders, deadlines on
// a manual clock, and command/query buses with exactly one handler per type.
#include <bulwark/channel/cqrs.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

struct get_price {
    static constexpr std::string_view subject = "prices.get";
    using reply_type = double;
    std::string sku;
};
struct place_order {
    static constexpr std::string_view subject = "orders.place";
    std::string sku;
    int qty;
};

int main() {
    bulwark::manual_clock clock; // deterministic deadlines for the demo
    bulwark::bus<bulwark::topics<get_price>> bus{{.clock = clock}};

    auto r = bus.request(get_price{"apple"}, 100ms);
    std::printf("no responder: %s\n", r.error().error_code().message().c_str());

    auto prices =
        bus.respond<get_price>([](const get_price& q) { return q.sku == "apple" ? 0.5 : 2.0; });
    std::printf("price of apple: %.2f\n", bus.request(get_price{"apple"}, 100ms).value());

    auto slow = bus.respond<get_price>([&](const get_price&) {
        clock.advance(1s); // a slow responder
        return 1.0;
    });
    prices.unsubscribe();
    auto late = bus.request(get_price{"pear"}, 100ms);
    std::printf("slow responder: %s (late reply dropped)\n",
                late.error().error_code().message().c_str());

    bulwark::command_bus<bulwark::topics<place_order>> commands;
    auto handler = commands.handle<place_order>(
        [](const place_order& c) { std::printf("placing %d x %s\n", c.qty, c.sku.c_str()); });
    (void)commands.send(place_order{"apple", 3});
    try {
        auto second = commands.handle<place_order>([](const place_order&) {});
    } catch (const bulwark::invalid_argument_error& e) {
        std::printf("second handler refused: %s\n", e.what());
    }

    bulwark::query_bus<bulwark::topics<get_price>> queries;
    auto q = queries.handle<get_price>([](const get_price&) { return 0.75; });
    std::printf("query reply: %.2f\n", queries.ask(get_price{"kiwi"}).value());
}
