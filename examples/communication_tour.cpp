// The communication tour: the scenarios a microservice user expects, in one program. A shop of
// in-process services (an inventory service with 4 instances, a billing worker, a price
// responder) that find each other through a registry with health checks, are called through
// each load-balancing strategy and the standard resilience pipeline, publish events, process
// commands at least once with dead letters, answer requests by correlation id, and are guarded by
// a circuit breaker that opens on repeated failures and closes after recovery. A summary at the
// end restates what happened; the program exits non-zero if an invariant it states is violated
// (no command lost, every failure accounted for, the breaker closed again).
//
// Time is a manual clock wherever timing matters (health rounds, backoff, the breaker's open
// period), so the tour runs in well under a second.
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/health.hpp>
#include <bulwark/balance/least_outstanding.hpp>
#include <bulwark/balance/maglev.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/balance/random.hpp>
#include <bulwark/balance/ring_hash.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/balance/weighted_round_robin.hpp>
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/standard.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// ---- messages of the shop ----------------------------------------------------------------

/// Event: an order was placed (fan-out to every subscriber).
struct order_placed {
    static constexpr std::string_view subject = "shop.orders.placed";
    std::string order;
    int cents = 0;
};
/// Event: an order was billed (published by the billing worker as a consequence).
struct order_billed {
    static constexpr std::string_view subject = "shop.orders.billed";
    std::string order;
};
/// Command: charge a card (one consumer group, at least once).
struct charge_card {
    static constexpr std::string_view subject = "shop.billing.charge";
    std::string order;
    int cents = 0;
};
/// Request: the price of a SKU (one reply, matched by correlation id).
struct price_query {
    static constexpr std::string_view subject = "shop.prices.get";
    using reply_type = int;
    std::string sku;
};

using shop_events = bulwark::topics<order_placed, order_billed, price_query>;
using shop_commands = bulwark::topics<charge_card>;

const char* state_name(bulwark::breaker_state s) {
    switch (s) {
    case bulwark::breaker_state::closed:
        return "closed";
    case bulwark::breaker_state::open:
        return "open";
    case bulwark::breaker_state::half_open:
        return "half-open";
    case bulwark::breaker_state::forced_open:
        return "forced-open";
    case bulwark::breaker_state::disabled:
        return "disabled";
    case bulwark::breaker_state::metrics_only:
        return "metrics-only";
    }
    return "?";
}

/// Records breaker transitions so the summary (and the invariants) can show them.
struct transition_log {
    std::vector<std::string>* lines;
    void on_state_change(bulwark::breaker_state from, bulwark::breaker_state to) const {
        lines->push_back(std::string(state_name(from)) + " -> " + state_name(to));
    }
};

int violations = 0;
void check(bool ok, const char* invariant) {
    if (!ok) {
        std::printf("INVARIANT VIOLATED: %s\n", invariant);
        ++violations;
    }
}

/// The last 8 characters of an id (the first ones of a time-ordered id are its timestamp).
std::string tail(const std::string& id) {
    return id.size() > 8 ? id.substr(id.size() - 8) : id;
}

void heading(const char* title) {
    std::printf("\n== %s ==\n", title);
}

/// Calls `client` n times with a handler that counts which endpoint served; prints the shares.
template <class Client>
std::map<std::string, int> spread(const char* name, Client& client, int n,
                                  const char* hash_key = nullptr) {
    std::map<std::string, int> served;
    for (int i = 0; i < n; ++i) {
        bulwark::context ctx;
        std::string key = hash_key ? hash_key : "user-" + std::to_string(i);
        ctx.set_hash_key(key);
        (void)client.try_execute(
            [&](bulwark::context& c) -> bulwark::outcome<int> {
                ++served[c.endpoint()->address()];
                return 1;
            },
            ctx);
    }
    std::printf("  %-22s", name);
    for (const auto& [addr, count] : served)
        std::printf("  %s=%-4d", addr.substr(0, addr.find(':')).c_str(), count);
    std::printf("\n");
    return served;
}

} // namespace

int main() {
    bulwark::manual_clock clock;

    // ---- 1. service registry with health checks --------------------------------------------
    heading("1. service registry with health checks");
    bulwark::registry inventory({{.address = "inventory-1:8080", .weight = 1, .zone = "a"},
                                 {.address = "inventory-2:8080", .weight = 1, .zone = "a"},
                                 {.address = "inventory-3:8080", .weight = 2, .zone = "b"},
                                 {.address = "inventory-4:8080", .weight = 1, .zone = "b"}},
                                {.clock = clock});
    std::set<std::string> down{"inventory-4:8080"}; // its /health answers 503
    bulwark::health_checker checker(
        inventory,
        [&](const bulwark::endpoint& e, bulwark::context&) { return !down.contains(e.address()); },
        {.interval = 5s, .healthy_threshold = 2, .unhealthy_threshold = 2});
    std::printf("registered %zu inventory instances; inventory-4 fails its health probe\n",
                inventory.size());
    for (int round = 1; round <= 2; ++round) {
        std::size_t flipped = checker.check_now();
        std::printf("  health round %d: %zu changed, %zu healthy\n", round, flipped,
                    inventory.healthy().size());
        clock.advance(5s);
    }
    check(inventory.healthy().size() == 3,
          "inventory-4 leaves the healthy set after 2 failed probes");

    // ---- 2. every load-balancing strategy ----------------------------------------------------
    heading("2. load balancing (400 calls each, over the 3 healthy instances)");
    auto rr = bulwark::pipeline{bulwark::balance<bulwark::round_robin>{inventory}};
    auto wrr = bulwark::pipeline{bulwark::balance<bulwark::weighted_round_robin>{inventory}};
    auto rnd = bulwark::pipeline{bulwark::balance<bulwark::random>{inventory}};
    auto lo = bulwark::pipeline{bulwark::balance<bulwark::least_outstanding>{inventory}};
    auto p2c = bulwark::pipeline{bulwark::balance<bulwark::p2c_peak_ewma>{inventory}};
    auto ring = bulwark::pipeline{bulwark::balance<bulwark::ring_hash>{inventory}};
    auto mag = bulwark::pipeline{bulwark::balance<bulwark::maglev>{inventory}};
    auto rr_spread = spread("round_robin", rr, 400);
    auto wrr_spread = spread("weighted_round_robin", wrr, 400);
    spread("random", rnd, 400);
    // Calls here finish before the next starts, so nothing is outstanding and least_outstanding
    // keeps its first choice; under concurrency it prefers the instance with fewest in flight.
    spread("least_outstanding", lo, 400);
    spread("p2c_peak_ewma", p2c, 400);
    spread("ring_hash (many users)", ring, 400);
    auto sticky = spread("maglev (one user)", mag, 50, "alice");
    check(!rr_spread.contains("inventory-4:8080"), "the unhealthy instance gets no call");
    check(wrr_spread["inventory-3:8080"] > wrr_spread["inventory-1:8080"],
          "weight 2 gets more calls under weighted round robin");
    check(sticky.size() == 1, "a hash key sticks to one instance");

    // ---- 3. synchronous calls through the standard pipeline ---------------------------------
    heading("3. synchronous calls through the standard pipeline");
    auto client = bulwark::standard_pipeline(
        {.total_timeout = 5s,
         .backoff = {.base = 100ms, .cap = 1s, .jitter = bulwark::no_jitter},
         .breaker = {.window = bulwark::count_window{20}, .failure_rate = 0.5, .minimum_calls = 10},
         .attempt_timeout = 1s,
         .clock = clock});
    int attempts = 0;
    int stock = client.execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
        ++attempts;
        if (ctx.attempt() < 3) // the first two attempts hit a restarting instance
            return bulwark::errc::transport_error;
        return 17;
    });
    std::printf("stock of sku-1 = %d after %d attempts (retry with backoff 100 ms, 200 ms)\n",
                stock, attempts);
    check(stock == 17 && attempts == 3, "the retry turns two transient failures into a result");

    // ---- 4. events -----------------------------------------------------------------------------
    heading("4. events (publish/subscribe, fan-out, causation)");
    bulwark::bus<shop_events> events{{.clock = clock}};
    std::atomic<int> events_handled{0};
    std::vector<std::string> audit;
    auto mail = events.subscribe<order_placed>([&](const order_placed& e) {
        ++events_handled;
        std::printf("  mail: thanks for %s\n", e.order.c_str());
    });
    auto analytics = events.subscribe<order_placed>([&](const order_placed& e) {
        ++events_handled;
        std::printf("  analytics: revenue +%d cents (%s)\n", e.cents, e.order.c_str());
    });
    auto auditor = events.subscribe<order_billed>([&](const bulwark::envelope<order_billed>& e) {
        ++events_handled;
        audit.push_back(e.message().order);
        std::printf("  audit: %s billed, correlation ...%s\n", e.message().order.c_str(),
                    tail(e.correlation_id().to_string()).c_str());
    });
    for (const char* order : {"order-1", "order-2"}) {
        std::size_t ran = events.publish(order_placed{order, 2500});
        std::printf("published %s to %zu subscribers\n", order, ran);
    }

    // ---- 5. async commands, at least once, with dead letters ---------------------------------
    heading("5. commands at least once (2 consumers, redelivery, dead letters)");
    bulwark::dead_letter_box<bulwark::async_message<charge_card>> dead;
    bulwark::async_bus<shop_commands> commands;
    std::mutex charged_mutex;
    std::map<std::string, unsigned> charged; // order -> delivery that succeeded
    auto billing = commands.subscribe<charge_card>(
        [&](bulwark::bus_delivery<charge_card>& d) {
            const charge_card& c = d.message().message;
            if (c.cents <= 0)
                return d.dead_letter("amount must be positive"); // poison: never retried
            if (c.order == "order-3" && d.attempt() < 3)
                throw std::runtime_error("card processor timeout"); // nack: redelivered
            // The event bus is called from both consumer threads; one lock keeps its handlers'
            // output and the audit list in order (the bus itself need not be the lesson here).
            std::lock_guard lock(charged_mutex);
            charged[c.order] = d.attempt();
            events.publish(order_billed{c.order}, bulwark::caused_by(d.message().metadata));
            d.ack();
        },
        {.consumers = 2,
         .per_key_order = true,
         .delivery = bulwark::at_least_once{.max_deliveries = 5},
         .dead_letter = dead.sink()});
    const std::vector<charge_card> to_charge{
        {"order-1", 2500}, {"order-2", 2500}, {"order-3", 990}, {"order-4", 0}};
    for (const auto& c : to_charge)
        (void)commands.publish(c, {.key = c.order});
    commands.drain();
    for (const auto& [order, delivery] : charged)
        std::printf("  billing: charged %s (delivery %u)\n", order.c_str(), delivery);
    for (const auto& letter : dead.items())
        std::printf("  dead letter: %s, reason \"%s\"\n", letter.message.message.order.c_str(),
                    letter.reason.c_str());
    const auto* channel = commands.channel<charge_card>();
    check(charged.size() + dead.items().size() == to_charge.size(),
          "every command is either handled or dead-lettered (nothing lost)");
    check(charged["order-3"] == 3, "the flaky charge succeeds on its third delivery");

    // ---- 6. request/response by correlation id ----------------------------------------------
    heading("6. request/response by correlation id");
    std::string seen_correlation;
    auto prices = events.respond<price_query>([&](const bulwark::envelope<price_query>& q) {
        seen_correlation = q.id().to_string();
        return q.message().sku == "sku-1" ? 1250 : 300;
    });
    auto price = events.request(price_query{"sku-1"}, 200ms);
    std::printf("price of sku-1: %d cents (request id ...%s, reply matched to it)\n",
                price.has_value() ? price.value() : -1, tail(seen_correlation).c_str());
    prices.unsubscribe();
    auto nobody = events.request(price_query{"sku-2"}, 200ms);
    std::printf("with the price service gone: %s\n",
                nobody.has_value() ? "a reply?!" : nobody.error().error_code().message().c_str());
    check(price.has_value() && price.value() == 1250, "the request gets its reply");
    check(!nobody.has_value(), "no responder is an error, not a hang");

    // ---- 7. circuit breaker opens and closes ------------------------------------------------
    heading("7. circuit breaker (payment gateway down, then back)");
    std::vector<std::string> transitions;
    bulwark::basic_circuit_breaker gateway_breaker{{.window = bulwark::count_window{10},
                                                    .failure_rate = 0.5,
                                                    .minimum_calls = 5,
                                                    .open_for = 30s,
                                                    .half_open_calls = 2,
                                                    .clock = clock},
                                                   bulwark::default_classifier{},
                                                   transition_log{&transitions}};
    auto gateway = bulwark::pipeline{std::ref(gateway_breaker)};
    bool gateway_up = false;
    int gateway_calls = 0, rejected = 0;
    auto pay = [&]() -> bulwark::outcome<int> {
        ++gateway_calls;
        return gateway_up ? bulwark::outcome<int>{200} : bulwark::errc::transport_error;
    };
    for (int i = 0; i < 20; ++i) {
        auto r = gateway.try_execute(pay);
        if (!r.has_value() && r.error().error_code() == bulwark::errc::circuit_open)
            ++rejected;
    }
    std::printf("20 calls while down: %d reached the gateway, %d rejected by the open breaker\n",
                gateway_calls, rejected);
    clock.advance(30s);
    gateway_up = true;
    for (int i = 0; i < 3; ++i)
        (void)gateway.try_execute(pay);
    std::printf("30 s later, gateway back: breaker %s\n", state_name(gateway_breaker.state()));
    check(rejected > 0, "the breaker opened after repeated failures");
    check(gateway_breaker.state() == bulwark::breaker_state::closed,
          "the breaker closed after recovery");

    // ---- summary --------------------------------------------------------------------------------
    heading("summary");
    std::printf("subscribers: %zu on %s, %zu on %s; responders on %s: %zu\n",
                events.subscriber_count<order_placed>(), order_placed::subject.data(),
                events.subscriber_count<order_billed>(), order_billed::subject.data(),
                price_query::subject.data(), events.responder_count<price_query>());
    std::printf(
        "events handled: %d; commands acked: %llu, redelivered: %llu, dead-lettered: %llu\n",
        events_handled.load(), static_cast<unsigned long long>(channel->acked()),
        static_cast<unsigned long long>(channel->redelivered()),
        static_cast<unsigned long long>(channel->dead_lettered()));
    for (const auto& letter : dead.items())
        std::printf("dead letter: %s -- %s\n", letter.message.message.order.c_str(),
                    letter.reason.c_str());
    std::printf("pending requests: 0 (every request above was answered or failed at once)\n");
    std::string path;
    for (const auto& t : transitions)
        path += (path.empty() ? "" : ", ") + t;
    std::printf("breaker 'payment-gateway': %s (transitions: %s); %d calls reached the "
                "gateway, %lld rejected\n",
                state_name(gateway_breaker.state()), path.c_str(), gateway_calls,
                static_cast<long long>(gateway_breaker.metrics().rejected));
    std::printf("registry 'inventory': %zu instances, %zu healthy\n", inventory.size(),
                inventory.healthy().size());
    check(audit.size() == charged.size(), "every charge published an order_billed event");
    check(channel->dead_lettered() == 1, "exactly the poison command was dead-lettered");

    if (violations != 0) {
        std::printf("\n%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("\nall invariants held\n");
    return 0;
}
