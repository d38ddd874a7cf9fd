// A request whose type declares no reply type and whose call names none.
// expect: name the reply type
#include <bulwark/channel/bus.hpp>

struct ping {
    static constexpr std::string_view subject = "ping";
};
int main() {
    bulwark::bus<bulwark::topics<ping>> bus;
    (void)bus.request(ping{});
}
