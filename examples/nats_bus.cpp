// The same service code over two transports: in process (bus<Topics>, async_bus<Topics>) and
// across processes over NATS (bus<Topics, nats_transport, json_codec>, and
// jetstream_bus<Topics, json_codec> for at-least-once delivery). Only the bus type changes.
//
// Run: start a nats-server with JetStream (`nats-server -js`), then
//   NATS_URL=nats://127.0.0.1:4222 build/dev/examples/example_nats_bus
// Without a server the NATS half says so and is skipped.
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/bus.hpp>
#include <bulwark/codec/json.hpp>
#include <bulwark/transport/nats.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace std::chrono_literals;

struct price;
struct order_created {
    static constexpr std::string_view subject = "shop.orders.created";
    std::string id;
    double total = 0;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("id", &order_created::id), bulwark::field("total", &order_created::total));
};
struct price_query {
    static constexpr std::string_view subject = "shop.prices.query";
    using reply_type = price;
    std::string sku;
    static constexpr auto json_fields =
        bulwark::json_fields(bulwark::field("sku", &price_query::sku));
};
struct price {
    static constexpr std::string_view subject = "shop.prices.reply";
    std::string sku;
    double amount = 0;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("sku", &price::sku), bulwark::field("amount", &price::amount));
};
using shop_topics = bulwark::topics<order_created, price_query, price>;

template <class F>
void wait_until(F done) {
    for (int i = 0; i < 500 && !done(); ++i)
        std::this_thread::sleep_for(10ms);
}

/// The service: the same code for every synchronous bus.
template <class Bus>
void shop(Bus& bus, const char* where) {
    std::atomic<int> orders{0};
    auto sub = bus.template subscribe<order_created>([&](const order_created& o) {
        std::printf("  [%s] order %s: %.2f\n", where, o.id.c_str(), o.total);
        ++orders;
    });
    auto prices = bus.template respond<price_query>([](const price_query& q) {
        return price{q.sku, 9.99};
    });
    (void)bus.publish(order_created{"o-1", 42.5});
    auto p = bus.template request<price_query>(price_query{"sku-7"}, 2s);
    if (p)
        std::printf("  [%s] price of %s: %.2f\n", where, p->sku.c_str(), p->amount);
    wait_until([&] { return orders == 1; });
}

/// The worker: the same code for every asynchronous bus (at-least-once on JetStream).
template <class AsyncBus>
void worker(AsyncBus& bus, const char* where) {
    std::atomic<int> done{0};
    auto sub = bus.template subscribe<order_created>(
        [&](bulwark::bus_delivery<order_created>& d) {
            if (d.attempt() == 1) { // the first try fails: redelivered after the backoff
                d.nack("warehouse busy");
                return;
            }
            std::printf("  [%s] shipped %s on delivery %u\n", where, d.message().message.id.c_str(),
                        d.attempt());
            d.ack();
            ++done;
        },
        {.delivery =
             bulwark::at_least_once{.max_deliveries = 3, .redelivery_backoff = {.delay = 50ms}}});
    (void)bus.publish(order_created{"o-2", 10});
    wait_until([&] { return done == 1; });
}

int main() {
    std::printf("in process:\n");
    bulwark::bus<shop_topics> local;
    shop(local, "inproc");
    bulwark::async_bus<shop_topics> local_async;
    worker(local_async, "inproc");

    const char* url = std::getenv("NATS_URL") ? std::getenv("NATS_URL") : "nats://127.0.0.1:4222";
    std::printf("over NATS (%s):\n", url);
    try {
        bulwark::nats_transport nats({.servers = {url}, .name = "example", .connect_timeout = 1s});
        bulwark::bus<shop_topics, bulwark::nats_transport, bulwark::json_codec> remote(nats);
        shop(remote, "nats");
        bulwark::jetstream js(nats);
        bulwark::jetstream_bus<shop_topics, bulwark::json_codec> remote_async(
            js, {.stream = "EXAMPLE_SHOP"});
        worker(remote_async, "jetstream");
    } catch (const std::exception& e) {
        std::printf("  skipped: %s (start `nats-server -js` or set NATS_URL)\n", e.what());
    }
    return 0;
}
