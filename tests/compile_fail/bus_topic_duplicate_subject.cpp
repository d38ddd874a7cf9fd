// Two topic types with the same subject.
// expect: two topics share a subject
#include <bulwark/channel/topics.hpp>

struct a {
    static constexpr std::string_view subject = "orders.created";
};
struct b {
    static constexpr std::string_view subject = "orders.created";
};
using bad = bulwark::topics<a, b>;
int main() {
    return static_cast<int>(bad::size);
}
