// A topic whose subject has a wildcard: subjects are validated at compile time (NATS rules).
// expect: not a valid NATS publish subject
#include <bulwark/channel/topics.hpp>

struct bad_subject {
    static constexpr std::string_view subject = "orders.*";
};
using bad = bulwark::topics<bad_subject>;
int main() {
    return static_cast<int>(bad::size);
}
