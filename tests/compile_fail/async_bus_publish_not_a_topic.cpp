// expect: not a topic of this bus
#include <bulwark/channel/async_bus.hpp>

struct parcel {
    static constexpr std::string_view subject = "parcels.sent";
};

int main() {
    bulwark::async_bus<bulwark::topics<parcel>> bus;
    (void)bus.publish(42);
}
