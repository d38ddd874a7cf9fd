// A handler that cannot take the topic's message.
// expect: the handler must be callable with
#include <bulwark/channel/bus.hpp>

struct order_created {
    static constexpr std::string_view subject = "orders.created";
};
int main() {
    bulwark::bus<bulwark::topics<order_created>> bus;
    auto s = bus.subscribe<order_created>([](int) {});
}
