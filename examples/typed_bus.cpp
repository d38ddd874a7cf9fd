// A typed, synchronous, in-process bus: topics checked at compile time, RAII subscriptions,
// handlers that ask for the envelope, and a follow-up message linked to its cause.
#include <bulwark/channel/bus.hpp>

#include <cstdio>
#include <string>

struct order_created {
    static constexpr std::string_view subject = "orders.created"; // subject as a static member
    std::string id;
    double total;
};
struct payment_processed {
    std::string order;
};
template <> // subject from the trait, for a type you cannot change
struct bulwark::subject_of<payment_processed> {
    static constexpr std::string_view value = "payments.processed";
};

using shop_topics = bulwark::topics<order_created, payment_processed>;

int main() {
    bulwark::bus<shop_topics> bus;

    auto billing = bus.subscribe<order_created>([&](const bulwark::envelope<order_created>& e) {
        std::printf("billing: order %s for %.2f (message %s)\n", e.message().id.c_str(),
                    e.message().total, e.id().to_string().c_str());
        // publish the consequence with the same correlation id, caused by this message
        bus.publish(payment_processed{e.message().id}, bulwark::caused_by(e.metadata()));
    });
    auto audit =
        bus.subscribe<payment_processed>([](const bulwark::envelope<payment_processed>& e) {
            std::printf("audit: payment for %s, caused by %s, traceparent %s\n",
                        e.message().order.c_str(), e.causation_id().to_string().c_str(),
                        e.trace().to_string().c_str());
        });
    auto mail = bus.subscribe<order_created>(
        [](const order_created& e) { std::printf("mail: thanks for order %s\n", e.id.c_str()); });

    std::size_t ran = bus.publish(order_created{"o-1", 99.9});
    std::printf("publish ran %zu handlers\n", ran);

    mail.unsubscribe(); // or let it go out of scope
    ran = bus.publish(order_created{"o-2", 12.5});
    std::printf("after unsubscribing mail: %zu handlers\n", ran);
    // bus.publish(42);  // does not compile: "this message type is not a topic of this bus"
}
