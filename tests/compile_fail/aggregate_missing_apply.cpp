// An aggregate without `apply` for one of its event types.
// expect: the aggregate needs `void apply\(const E&\)` for each of its event types
#include <bulwark/codec/codec.hpp>
#include <bulwark/eventsource/aggregate.hpp>

struct placed {
    static constexpr std::string_view event_type = "placed";
};
struct paid {
    static constexpr std::string_view event_type = "paid";
};
struct codec {
    using codec_concept = bulwark::codec_tag;
    static constexpr std::string_view name = "x";
    template <class T>
    void encode(const T&, std::vector<std::byte>&) const {}
    template <class T>
    bulwark::outcome<T> decode(std::span<const std::byte>) const {
        return T{};
    }
};
struct order : bulwark::aggregate<order, codec, placed, paid> {
    void apply(const placed&) {}
};
int main() {
    order o;
}
