// A responder that returns an int for a request whose reply_type is std::string: one error that
// names the expected and the actual reply type, not 50 lines from inside std::optional.
// expect: the responder must return Req::reply_type
#include <bulwark/channel/bus.hpp>

#include <string>
#include <string_view>

struct get_name {
    static constexpr std::string_view subject = "names.get";
    using reply_type = std::string;
    int id = 0;
};

int main() {
    bulwark::bus<bulwark::topics<get_name>> bus;
    auto sub = bus.respond<get_name>([](const get_name& q) { return q.id; });
}
