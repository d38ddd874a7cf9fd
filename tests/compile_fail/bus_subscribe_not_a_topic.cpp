// Subscribing to a type outside the bus's topics.
// expect: is not a topic of this bus
#include <bulwark/channel/bus.hpp>

struct order_created {
    static constexpr std::string_view subject = "orders.created";
};
struct refund {};
int main() {
    bulwark::bus<bulwark::topics<order_created>> bus;
    auto s = bus.subscribe<refund>([](const refund&) {});
}
