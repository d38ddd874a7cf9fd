// Publishing a type outside the bus's topics.
// expect: is not a topic of this bus
#include <bulwark/channel/bus.hpp>

struct order_created {
    static constexpr std::string_view subject = "orders.created";
};
int main() {
    bulwark::bus<bulwark::topics<order_created>> bus;
    bus.publish(42);
}
