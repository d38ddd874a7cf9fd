// An order saga: order -> payment -> inventory -> shipping, each step with a compensation. Orders
// arrive on an async bus (2 consumers, per-order ordering, duplicates dropped by message id); the
// orchestrator runs each order's steps through a retry, and when a step fails for good it undoes
// the completed steps in reverse order. Payment is declined for one order (nothing to undo), the
// warehouse runs out for another (its payment is refunded).
// The services are idempotent consumers: a repeated step for the same order changes nothing.
//
// In process, with an orchestrator written in the example. The saga/ component (persistent saga
// log, SQLite store, crash-and-restart of the orchestrator) and `--nats` come with the consistency
// and NATS issues. Invariants (exit 1 if broken): every saga completed or compensated, a
// compensated order leaves no charge, no reservation and no shipment, stock adds up, each order's
// steps ran in order, a duplicated order ran once.
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// An order submitted by the shop: the saga's input.
struct order_submitted {
    static constexpr std::string_view subject = "orders.submitted";
    std::string order;
    std::string sku;
    int qty = 0;
    int cents = 0;
};
using order_topics = bulwark::topics<order_submitted>;

int violations = 0;
void check(bool ok, const std::string& invariant) {
    if (!ok) {
        std::printf("INVARIANT VIOLATED: %s\n", invariant.c_str());
        ++violations;
    }
}

/// The three services. Each keeps the keys of the steps it applied, so a repeated step (a
/// redelivery, a retried call that had in fact succeeded) is acknowledged without effect.
struct services {
    std::mutex m;
    std::map<std::string, int> charged;  // order -> cents
    std::map<std::string, int> reserved; // order -> qty
    std::set<std::string> shipped;       // orders
    std::map<std::string, int> stock{{"lamp", 5}, {"desk", 1}};
    std::set<std::string> applied; // idempotency keys "order/step"
    int duplicates_ignored = 0;
    int transient_left = 1;                              // the payment gateway times out once
    std::map<std::string, std::vector<std::string>> log; // per order, in order

    bool once(const std::string& key) {
        if (!applied.insert(key).second) {
            ++duplicates_ignored;
            return false;
        }
        return true;
    }
    bulwark::outcome<int> pay(const order_submitted& o) {
        std::lock_guard lock(m);
        if (transient_left > 0 && o.order == "order-2") {
            --transient_left;
            return bulwark::errc::timeout; // retried by the orchestrator's retry
        }
        if (o.cents > 100000)
            return bulwark::errc::rejected; // card declined: final
        if (once(o.order + "/pay")) {
            charged[o.order] = o.cents;
            log[o.order].push_back("paid");
        }
        return 1;
    }
    void refund(const order_submitted& o) {
        std::lock_guard lock(m);
        if (once(o.order + "/refund")) {
            charged.erase(o.order);
            log[o.order].push_back("refunded");
        }
    }
    bulwark::outcome<int> reserve(const order_submitted& o) {
        std::lock_guard lock(m);
        if (applied.contains(o.order + "/reserve")) {
            ++duplicates_ignored;
            return 1;
        }
        if (stock[o.sku] < o.qty)
            return bulwark::errc::rejected; // out of stock: final
        applied.insert(o.order + "/reserve");
        stock[o.sku] -= o.qty;
        reserved[o.order] = o.qty;
        log[o.order].push_back("reserved");
        return 1;
    }
    void release(const order_submitted& o) {
        std::lock_guard lock(m);
        if (once(o.order + "/release")) {
            stock[o.sku] += reserved[o.order];
            reserved.erase(o.order);
            log[o.order].push_back("released");
        }
    }
    bulwark::outcome<int> ship(const order_submitted& o) {
        std::lock_guard lock(m);
        if (once(o.order + "/ship")) {
            shipped.insert(o.order);
            log[o.order].push_back("shipped");
        }
        return 1;
    }
};

/// One step of the saga: an action and the compensation that undoes it.
struct step {
    const char* name;
    std::function<bulwark::outcome<int>(const order_submitted&)> action;
    std::function<void(const order_submitted&)> compensate;
};

} // namespace

int main() {
    services svc;
    const std::vector<step> saga{
        {"payment", [&](const auto& o) { return svc.pay(o); },
         [&](const auto& o) { svc.refund(o); }},
        {"inventory", [&](const auto& o) { return svc.reserve(o); },
         [&](const auto& o) { svc.release(o); }},
        {"shipping", [&](const auto& o) { return svc.ship(o); }, [](const auto&) {}},
    };
    // The retry rides out the gateway's one timeout. A decline or an empty shelf fails all three
    // attempts (the default classifier retries every failure; a classifier that ignores
    // errc::rejected would stop at once) and then starts compensation.
    auto call = bulwark::pipeline{bulwark::retry{
        .max_attempts = 3, .backoff = bulwark::exponential_backoff{.base = 1ms, .cap = 4ms}}};

    std::mutex results_mutex;
    std::map<std::string, std::string> result; // order -> "completed" / "compensated: ..."
    bulwark::dead_letter_box<bulwark::async_message<order_submitted>> dead;
    auto inbox = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(1024);
    bulwark::async_bus<order_topics> orders;
    auto orchestrator = orders.subscribe<order_submitted>(
        [&](bulwark::bus_delivery<order_submitted>& d) {
            const order_submitted& o = d.message().message;
            std::size_t done = 0;
            std::string failure;
            for (; done < saga.size(); ++done) {
                auto r = call.try_execute([&] { return saga[done].action(o); });
                if (!r.has_value()) {
                    failure = std::string(saga[done].name) + " " + r.error().error_code().message();
                    break;
                }
            }
            if (!failure.empty())
                for (std::size_t i = done; i-- > 0;) // undo in reverse order
                    saga[i].compensate(o);
            std::lock_guard lock(results_mutex);
            result[o.order] = failure.empty() ? "completed" : "compensated (" + failure + ")";
            d.ack();
        },
        {.consumers = 2,
         .per_key_order = true,
         .delivery = bulwark::at_least_once{.max_deliveries = 3},
         .dead_letter = dead.sink()},
        inbox);

    const std::vector<order_submitted> submitted{
        {"order-1", "lamp", 2, 4000},   {"order-2", "lamp", 1, 2000},
        {"order-3", "desk", 1, 250000}, // payment declined: nothing to undo but the attempt
        {"order-4", "desk", 1, 30000},  {"order-5", "desk", 1, 30000}, // one desk: one refund
    };
    bulwark::message_metadata order1_id;
    order1_id.id = bulwark::message_id::generate();
    for (const auto& o : submitted) {
        bulwark::message_metadata md;
        if (o.order == "order-1")
            md = order1_id;
        (void)orders.publish(o, {.metadata = md, .key = o.order});
    }
    (void)orders.publish(submitted[0], {.metadata = order1_id, .key = "order-1"}); // duplicate
    orders.drain();

    // A late repeat of steps that already ran (as a redelivery after a lost ack would send)
    // changes nothing: the services recognise the order's step by its key.
    const int charged_before = svc.charged["order-1"];
    (void)svc.pay(submitted[0]);
    (void)svc.ship(submitted[0]);
    check(svc.charged["order-1"] == charged_before && svc.duplicates_ignored == 2,
          "repeated steps are ignored (idempotent consumers)");

    for (const auto& o : submitted) {
        std::string steps;
        for (const auto& s : svc.log[o.order])
            steps += (steps.empty() ? "" : " -> ") + s;
        std::printf("%s: %-45s [%s]\n", o.order.c_str(), result[o.order].c_str(), steps.c_str());
    }
    std::printf("stock left: lamp %d, desk %d; duplicate orders dropped: %llu; repeated steps "
                "ignored: %d; dead letters: %zu\n",
                svc.stock["lamp"], svc.stock["desk"],
                static_cast<unsigned long long>(inbox->duplicates()), svc.duplicates_ignored,
                dead.items().size());

    int lamps_out = 0, desks_out = 0;
    for (const auto& o : submitted) {
        const std::string& r = result[o.order];
        check(r == "completed" || r.rfind("compensated", 0) == 0,
              o.order + " completed or compensated");
        if (r == "completed") {
            check(svc.charged.contains(o.order) && svc.shipped.contains(o.order),
                  o.order + " completed: charged and shipped");
            (o.sku == "lamp" ? lamps_out : desks_out) += o.qty;
        } else {
            check(!svc.charged.contains(o.order) && !svc.reserved.contains(o.order) &&
                      !svc.shipped.contains(o.order),
                  o.order + " compensated: no charge, no reservation, no shipment");
        }
        const auto& steps = svc.log[o.order];
        const std::vector<std::string> happy{"paid", "reserved", "shipped"};
        check(r != "completed" || steps == happy, o.order + "'s steps ran in order");
    }
    check(svc.stock["lamp"] == 5 - lamps_out && svc.stock["desk"] == 1 - desks_out,
          "stock adds up");
    check(result["order-3"].find("payment") != std::string::npos, "order-3's payment fails");
    // order-4 and order-5 want the last desk and run concurrently (different keys): whichever
    // comes second finds the shelf empty and is refunded.
    const bool four_lost = result["order-4"].find("inventory") != std::string::npos;
    const bool five_lost = result["order-5"].find("inventory") != std::string::npos;
    check(four_lost != five_lost, "exactly one of order-4 / order-5 misses the last desk");
    check(svc.log[four_lost ? "order-4" : "order-5"] ==
              std::vector<std::string>{"paid", "refunded"},
          "the order that missed the desk is refunded");
    check(inbox->duplicates() == 1, "the duplicated order-1 ran once");
    check(dead.items().empty(), "no order dead-lettered");
    if (violations != 0) {
        std::printf("%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("all invariants held: every saga completed or compensated\n");
    return 0;
}
