// Async delivery tour: an async_bus with 2 consumers, per-key order, at-least-once redelivery,
// a dead-letter sink and an idempotent consumer. Prints what happens; finishes at once.
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/dead_letter.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

struct payment_requested {
    static constexpr std::string_view subject = "payments.requested";
    std::string account;
    int cents = 0;
};
using pay_topics = bulwark::topics<payment_requested>;

int main() {
    std::mutex out;
    auto say = [&](const std::string& line) {
        std::lock_guard lock(out);
        std::puts(line.c_str());
    };

    bulwark::dead_letter_box<bulwark::async_message<payment_requested>> dead;
    auto inbox = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(1024);
    bulwark::async_bus<pay_topics> bus;

    auto sub = bus.subscribe<payment_requested>(
        [&](bulwark::bus_delivery<payment_requested>& d) {
            const auto& p = d.message().message;
            if (p.cents < 0)
                return d.dead_letter("negative amount"); // poison: no redelivery
            if (p.account == "flaky" && d.attempt() < 3)
                throw std::runtime_error("bank timeout"); // nack: redelivered
            say("charged " + p.account + " " + std::to_string(p.cents) + " (delivery " +
                std::to_string(d.attempt()) + ")");
            d.ack();
        },
        {.consumers = 2,
         .per_key_order = true, // one account's payments never overtake each other
         .delivery = bulwark::at_least_once{.max_deliveries = 5},
         .dead_letter = dead.sink()},
        inbox); // drop duplicates by message id (first deliveries only)

    bulwark::message_metadata once;
    once.id = bulwark::message_id::generate();
    (void)bus.publish(payment_requested{"alice", 500}, {.metadata = once, .key = "alice"});
    (void)bus.publish(payment_requested{"alice", 500}, {.metadata = once, .key = "alice"}); // dup
    (void)bus.publish(payment_requested{"flaky", 700}, {.key = "flaky"});
    (void)bus.publish(payment_requested{"mallory", -1}, {.key = "mallory"});
    bus.drain();

    for (const auto& letter : dead.items())
        std::printf("dead letter: %s, reason \"%s\", after %u deliveries\n",
                    letter.message.message.account.c_str(), letter.reason.c_str(),
                    letter.deliveries);
    std::printf("duplicates dropped: %llu, redeliveries: %llu\n",
                static_cast<unsigned long long>(inbox->duplicates()),
                static_cast<unsigned long long>(bus.channel<payment_requested>()->redelivered()));
}
