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
//
// `--nats nats://127.0.0.1:PORT` (what `./scripts/demo --nats` runs, with a nats-server it starts
// on loopback): the mail, analytics, billing and price services run as separate processes (this
// program started again with `--role`), the same service functions as in process, over
// bus<..., nats_transport, json_codec> for events and requests and jetstream_bus for the
// at-least-once commands. Sections 1-3 and 7 are client-side policies: the in-process tour shows
// them.
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
#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/observe/prometheus.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/standard.hpp>
#if BULWARK_EXAMPLE_NATS
#include <bulwark/codec/json.hpp>
#include <bulwark/transport/nats.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#endif

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

#if BULWARK_EXAMPLE_NATS
#define TOUR_JSON(...) static constexpr auto json_fields = bulwark::json_fields(__VA_ARGS__);
#else
#define TOUR_JSON(...)
#endif

/// Event: an order was placed (fan-out to every subscriber).
struct order_placed {
    static constexpr std::string_view subject = "shop.orders.placed";
    std::string order;
    int cents = 0;
    TOUR_JSON(bulwark::field("order", &order_placed::order),
              bulwark::field("cents", &order_placed::cents))
};
/// Event: a subscriber handled an order_placed (so the shop front sees the fan-out).
struct order_seen {
    static constexpr std::string_view subject = "shop.orders.seen";
    std::string by;
    std::string order;
    TOUR_JSON(bulwark::field("by", &order_seen::by), bulwark::field("order", &order_seen::order))
};
/// Event: an order was billed (published by the billing worker as a consequence).
struct order_billed {
    static constexpr std::string_view subject = "shop.orders.billed";
    std::string order;
    int delivery = 0; ///< the delivery of the charge command that succeeded
    TOUR_JSON(bulwark::field("order", &order_billed::order),
              bulwark::field("delivery", &order_billed::delivery))
};
/// Event: the billing worker dead-lettered a charge (reported to the shop front).
struct charge_dead_lettered {
    static constexpr std::string_view subject = "shop.billing.dead";
    std::string order;
    std::string reason;
    TOUR_JSON(bulwark::field("order", &charge_dead_lettered::order),
              bulwark::field("reason", &charge_dead_lettered::reason))
};
/// Command: charge a card (one consumer group, at least once).
struct charge_card {
    static constexpr std::string_view subject = "shop.billing.charge";
    std::string order;
    int cents = 0;
    TOUR_JSON(bulwark::field("order", &charge_card::order),
              bulwark::field("cents", &charge_card::cents))
};
/// Reply to a price_query: the price and the id of the request it answers.
struct price {
    static constexpr std::string_view subject = "shop.prices.reply";
    int cents = 0;
    std::string request_id;
    TOUR_JSON(bulwark::field("cents", &price::cents),
              bulwark::field("request_id", &price::request_id))
};
/// Request: the price of a SKU (one reply, matched by correlation id).
struct price_query {
    static constexpr std::string_view subject = "shop.prices.get";
    using reply_type = price;
    std::string sku;
    TOUR_JSON(bulwark::field("sku", &price_query::sku))
};

using shop_events = bulwark::topics<order_placed, order_seen, order_billed, charge_dead_lettered,
                                    price_query, price>;
using shop_commands = bulwark::topics<charge_card>;

// ---- the services: the same functions on the in-process buses and over NATS ---------------

/// " (pid N)" in a service process, "" in process: where a line was printed.
std::string where;

/// A subscriber of order_placed that says what it did and reports it as order_seen.
template <class Bus>
bulwark::subscription mail_service(Bus& events) {
    return events.template subscribe<order_placed>([&events](const order_placed& e) {
        std::printf("  mail%s: thanks for %s\n", where.c_str(), e.order.c_str());
        (void)events.publish(order_seen{"mail", e.order});
    });
}
template <class Bus>
bulwark::subscription analytics_service(Bus& events) {
    return events.template subscribe<order_placed>([&events](const order_placed& e) {
        std::printf("  analytics%s: revenue +%d cents (%s)\n", where.c_str(), e.cents,
                    e.order.c_str());
        (void)events.publish(order_seen{"analytics", e.order});
    });
}

/// The price responder: answers with the request's id, so the caller sees the match.
template <class Bus>
bulwark::subscription price_service(Bus& events) {
    return events.template respond<price_query>([](const bulwark::envelope<price_query>& q) {
        return price{q.message().sku == "sku-1" ? 1250 : 300, q.id().to_string()};
    });
}

/// The billing worker: charges cards at least once (2 consumers, per-order ordering). A zero
/// amount is poison (dead-lettered at once), order-3's card processor times out twice (the
/// handler throws: redelivered). Each charge publishes order_billed, caused by the command.
template <class Commands, class Bus>
bulwark::subscription
billing_service(Commands& commands, Bus& events,
                bulwark::dead_letter_sink<bulwark::async_message<charge_card>> dead_letters) {
    auto one_at_a_time = std::make_shared<std::mutex>();
    return commands.template subscribe<charge_card>(
        [&events, one_at_a_time](bulwark::bus_delivery<charge_card>& d) {
            const charge_card& c = d.message().message;
            if (c.cents <= 0)
                return d.dead_letter("amount must be positive"); // poison: never retried
            if (c.order == "order-3" && d.attempt() < 3)
                throw std::runtime_error("card processor timeout"); // nack: redelivered
            // Both consumer threads publish on the event bus; one lock keeps the handlers'
            // output in order (the bus itself need not be the lesson here).
            std::lock_guard lock(*one_at_a_time);
            std::printf("  billing%s: charged %s (delivery %u)\n", where.c_str(), c.order.c_str(),
                        d.attempt());
            (void)events.publish(order_billed{c.order, static_cast<int>(d.attempt())},
                                 bulwark::caused_by(d.message().metadata));
            d.ack();
        },
        {.consumers = 2,
         .per_key_order = true,
         .delivery = bulwark::at_least_once{.max_deliveries = 5},
         .dead_letter = std::move(dead_letters)});
}

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
    void on(const bulwark::events::breaker_state_changed& e) const {
        lines->push_back(std::string(state_name(e.from)) + " -> " + state_name(e.to));
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

#if BULWARK_EXAMPLE_NATS
// ---- across processes: the same services over NATS ----------------------------------------

using nats_events = bulwark::bus<shop_events, bulwark::nats_transport, bulwark::json_codec>;
using nats_commands = bulwark::jetstream_bus<shop_commands, bulwark::json_codec>;

/// The fd on which a service process says it is subscribed.
constexpr int ready_fd = 10;

/// Starts this program again as `--role <role> <url> <stream>`; it lives until `alive` (its
/// stdin) closes, and dies with this process (PR_SET_PDEATHSIG).
pid_t start_role(const std::string& role, const std::string& url, const std::string& stream,
                 int alive, int ready) {
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    std::vector<std::string> args{exe, "--role", role, url, stream};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) { // async-signal-safe calls only until execv
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(1);
        ::dup2(alive, 0);
        ::dup2(ready, ready_fd);
        ::execv(exe.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

/// A service process: subscribes its role's service, says so, serves until stdin closes.
int run_role(const std::string& role, const std::string& url, const std::string& stream) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    where = " (pid " + std::to_string(::getpid()) + ")";
    bulwark::nats_transport nats({.servers = {url}, .name = "tour-" + role});
    nats_events events(nats);
    bulwark::jetstream js(nats);
    std::unique_ptr<nats_commands> commands;
    bulwark::subscription sub;
    if (role == "mail") {
        sub = mail_service(events);
    } else if (role == "analytics") {
        sub = analytics_service(events);
    } else if (role == "prices") {
        sub = price_service(events);
    } else if (role == "billing") {
        commands =
            std::make_unique<nats_commands>(js, bulwark::jetstream_bus_options{.stream = stream});
        // The dead letters are reported to the shop front as an event.
        sub = billing_service(
            *commands, events,
            [&events](bulwark::dead_letter<bulwark::async_message<charge_card>>&& l) {
                (void)events.publish(charge_dead_lettered{l.message.message.order, l.reason});
            });
    } else {
        std::printf("unknown role %s\n", role.c_str());
        return 2;
    }
    (void)nats.flush(); // the server has the subscription before the front hears "ready"
    const char one = 1;
    (void)!::write(ready_fd, &one, 1);
    char byte = 0;
    while (::read(0, &byte, 1) > 0) {
    }
    return 0;
}

/// Waits (up to 30 s: only a hung service takes that long) until `done()`.
template <class F>
bool wait_for(F done) {
    for (int i = 0; i < 3000 && !done(); ++i)
        std::this_thread::sleep_for(10ms);
    return done();
}

/// The shop front over NATS: starts the services as processes, then sections 4-6.
int nats_tour(const std::string& url) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const std::string stream = "TOUR_" + std::to_string(::getpid()); // fresh on a reused server
    std::printf("communication tour across processes over NATS (%s)\n", url.c_str());
    heading("services as processes");
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    std::map<std::string, std::pair<pid_t, int>> roles; // role -> pid, write end of its stdin
    for (const char* role : {"mail", "analytics", "billing", "prices"}) {
        int alive[2];
        if (::pipe2(alive, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe failed");
        roles[role] = {start_role(role, url, stream, alive[0], ready[1]), alive[1]};
        ::close(alive[0]);
    }
    ::close(ready[1]);
    for (int i = 0; i < 4; ++i) {
        char b = 0;
        if (::read(ready[0], &b, 1) != 1) {
            std::printf("a service process did not start (is the server at %s up?)\n", url.c_str());
            return 1;
        }
    }
    ::close(ready[0]);
    auto stop = [&](const std::string& role) {
        auto& [pid, alive] = roles[role];
        if (pid <= 0)
            return;
        ::close(alive);
        int st = 0;
        ::waitpid(pid, &st, 0);
        pid = -1;
    };
    for (const auto& [role, proc] : roles)
        std::printf("  %s: pid %ld\n", role.c_str(), static_cast<long>(proc.first));

    bulwark::nats_transport nats({.servers = {url}, .name = "tour-front"});
    nats_events events(nats);
    bulwark::jetstream js(nats);
    nats_commands commands(js, {.stream = stream});
    std::mutex m;
    int events_handled = 0;
    std::map<std::string, int> charged;
    std::vector<std::pair<std::string, std::string>> dead;
    auto seen = events.subscribe<order_seen>([&](const order_seen&) {
        std::lock_guard lock(m);
        ++events_handled;
    });
    auto auditor = events.subscribe<order_billed>([&](const bulwark::envelope<order_billed>& e) {
        std::lock_guard lock(m);
        ++events_handled;
        charged[e.message().order] = e.message().delivery;
        std::printf("  audit (front): %s billed, correlation ...%s\n", e.message().order.c_str(),
                    tail(e.correlation_id().to_string()).c_str());
    });
    auto dead_reports = events.subscribe<charge_dead_lettered>([&](const charge_dead_lettered& d) {
        std::lock_guard lock(m);
        dead.emplace_back(d.order, d.reason);
    });
    (void)nats.flush();
    auto locked = [&](auto f) {
        std::lock_guard lock(m);
        return f();
    };

    heading("4. events (publish/subscribe, fan-out to two processes)");
    for (const char* order : {"order-1", "order-2"})
        (void)events.publish(order_placed{order, 2500});
    const bool fanned_out = wait_for([&] { return locked([&] { return events_handled == 4; }); });
    std::printf("published order-1 and order-2; mail and analytics (other processes) reported %d "
                "of 4\n",
                locked([&] { return events_handled; }));

    heading("5. commands at least once over JetStream (billing process, 2 consumers)");
    const std::vector<charge_card> to_charge{
        {"order-1", 2500}, {"order-2", 2500}, {"order-3", 990}, {"order-4", 0}};
    for (const auto& c : to_charge)
        (void)commands.publish(c, {.key = c.order});
    const bool settled =
        wait_for([&] { return locked([&] { return charged.size() + dead.size() == 4; }); });
    for (const auto& [order, reason] : locked([&] { return dead; }))
        std::printf("  dead letter: %s, reason \"%s\"\n", order.c_str(), reason.c_str());

    heading("6. request/response by correlation id (prices process)");
    bulwark::message_metadata request_md;
    request_md.id = bulwark::message_id::generate();
    auto quote = events.request(price_query{"sku-1"}, 2s, request_md);
    std::printf("price of sku-1: %d cents (request id ...%s, reply to ...%s)\n",
                quote.has_value() ? quote->cents : -1, tail(request_md.id.to_string()).c_str(),
                quote.has_value() ? tail(quote->request_id).c_str() : "");
    stop("prices");
    auto nobody = events.request(price_query{"sku-2"}, 2s);
    std::printf("with the price process stopped: %s\n",
                nobody.has_value() ? "a reply?!" : nobody.error().error_code().message().c_str());

    heading("summary");
    std::lock_guard lock(m);
    std::printf("processes: 4 services + this front, one nats-server; events handled: %d; "
                "commands billed: %zu, dead-lettered: %zu\n",
                events_handled, charged.size(), dead.size());
    check(fanned_out, "both subscriber processes saw both orders");
    check(settled && charged.size() + dead.size() == to_charge.size(),
          "every command is either handled or dead-lettered (nothing lost)");
    check(charged["order-3"] == 3, "the flaky charge succeeds on its third delivery");
    check(dead.size() == 1 && dead[0].first == "order-4",
          "exactly the poison command was dead-lettered");
    check(quote.has_value() && quote->cents == 1250 &&
              quote->request_id == request_md.id.to_string(),
          "the request gets its reply, matched by correlation id");
    check(!nobody.has_value(), "no responder is an error, not a hang");
    for (const auto& [role, proc] : roles)
        if (proc.first > 0) {
            ::close(proc.second);
            int st = 0;
            ::waitpid(proc.first, &st, 0);
        }
    if (violations != 0) {
        std::printf("\n%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("\nall invariants held: the same service code ran in 4 processes over NATS\n");
    return 0;
}
#endif

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        std::printf("usage: example_communication_tour [--nats nats://127.0.0.1:PORT]\n"
                    "  (no argument)  the tour in process\n"
                    "  --nats URL     the services as separate processes over that nats-server\n");
        return 0;
    }
#if BULWARK_EXAMPLE_NATS
    try {
        if (args.size() == 4 && args[0] == "--role")
            return run_role(args[1], args[2], args[3]);
        if (args.size() == 2 && args[0] == "--nats")
            return nats_tour(args[1]);
    } catch (const std::exception& e) {
        std::printf("communication tour over NATS failed: %s\n", e.what());
        return 1;
    }
#endif
    if (!args.empty()) {
        std::printf("%s: this build has no NATS transport (install libnats-dev and "
                    "nlohmann-json3-dev, then reconfigure)\n",
                    args[0].c_str());
        return 2;
    }
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
    int events_handled = 0;
    std::map<std::string, int> charged; // order -> delivery that succeeded (from order_billed)
    auto seen = events.subscribe<order_seen>([&](const order_seen&) { ++events_handled; });
    auto mail = mail_service(events);
    auto analytics = analytics_service(events);
    auto auditor = events.subscribe<order_billed>([&](const bulwark::envelope<order_billed>& e) {
        ++events_handled;
        charged[e.message().order] = e.message().delivery;
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
    auto billing = billing_service(commands, events, dead.sink());
    const std::vector<charge_card> to_charge{
        {"order-1", 2500}, {"order-2", 2500}, {"order-3", 990}, {"order-4", 0}};
    for (const auto& c : to_charge)
        (void)commands.publish(c, {.key = c.order});
    commands.drain();
    for (const auto& letter : dead.items())
        std::printf("  dead letter: %s, reason \"%s\"\n", letter.message.message.order.c_str(),
                    letter.reason.c_str());
    const auto* channel = commands.channel<charge_card>();
    check(charged.size() + dead.items().size() == to_charge.size(),
          "every command is either handled or dead-lettered (nothing lost)");
    check(charged["order-3"] == 3, "the flaky charge succeeds on its third delivery");

    // ---- 6. request/response by correlation id ----------------------------------------------
    heading("6. request/response by correlation id");
    auto prices = price_service(events);
    bulwark::message_metadata request_md;
    request_md.id = bulwark::message_id::generate();
    auto quote = events.request(price_query{"sku-1"}, 200ms, request_md);
    std::printf("price of sku-1: %d cents (request id ...%s, reply to ...%s)\n",
                quote.has_value() ? quote->cents : -1, tail(request_md.id.to_string()).c_str(),
                quote.has_value() ? tail(quote->request_id).c_str() : "");
    prices.unsubscribe();
    auto nobody = events.request(price_query{"sku-2"}, 200ms);
    std::printf("with the price service gone: %s\n",
                nobody.has_value() ? "a reply?!" : nobody.error().error_code().message().c_str());
    check(quote.has_value() && quote->cents == 1250, "the request gets its reply");
    check(quote.has_value() && quote->request_id == request_md.id.to_string(),
          "the reply answers our request (correlation id)");
    check(!nobody.has_value(), "no responder is an error, not a hang");

    // ---- 7. circuit breaker opens and closes ------------------------------------------------
    heading("7. circuit breaker (payment gateway down, then back)");
    std::vector<std::string> transitions;
    // The breaker's events go to the transition log and to the metrics registry (Prometheus text
    // at the end of the summary).
    bulwark::metrics_registry metrics;
    bulwark::basic_circuit_breaker gateway_breaker{
        {.window = bulwark::count_window{10},
         .failure_rate = 0.5,
         .minimum_calls = 5,
         .open_for = 30s,
         .half_open_calls = 2,
         .clock = clock},
        bulwark::default_classifier{},
        bulwark::listeners{
            transition_log{&transitions},
            metrics.listener({.pipeline = "checkout", .policy = "payment-gateway"})}};
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
        events_handled, static_cast<unsigned long long>(channel->acked()),
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
    std::printf("metrics excerpt (bulwark::to_prometheus, what a /metrics scrape returns):\n");
    const std::string text = bulwark::to_prometheus(metrics);
    int shown = 0;
    for (std::size_t at = 0; at < text.size() && shown < 8;) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos)
            end = text.size();
        const std::string line = text.substr(at, end - at);
        if (!line.empty() && line[0] != '#' && line.find(" 0") == std::string::npos) {
            std::printf("  %s\n", line.c_str());
            ++shown;
        }
        at = end + 1;
    }
    check(text.find("bulwark_breaker_state") != std::string::npos,
          "the breaker's state is exported to Prometheus");
    check(charged.size() == 3, "every charge published an order_billed event");
    check(events_handled == 4 + 3, "both subscribers saw both orders; the auditor every charge");
    check(channel->dead_lettered() == 1, "exactly the poison command was dead-lettered");

    if (violations != 0) {
        std::printf("\n%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("\nall invariants held\n");
    return 0;
}
