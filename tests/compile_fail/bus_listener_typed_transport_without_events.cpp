// A listener that hears deliveries, on a typed transport whose delivery cannot report them.
// expect: cannot report deliveries to a listener
#include <bulwark/channel/bus.hpp>

#include <cstddef>

struct order_created {
    static constexpr std::string_view subject = "orders.created";
};
/// A typed transport whose delivery publishes but takes no listener.
struct quiet_transport {
    using transport_concept = bulwark::transport_tag;
    using lock_policy = bulwark::multi_threaded;
    template <class Topics>
    struct typed_delivery {
        template <class M>
        std::size_t publish(const M&, const bulwark::message_metadata*) {
            return 0;
        }
    };
};
struct hears_deliveries {
    void on(const bulwark::events::channel_delivered&) {}
};
int main() {
    bulwark::bus<bulwark::topics<order_created>, quiet_transport, void, hears_deliveries> bus{
        hears_deliveries{}};
    bus.publish(order_created{});
}
