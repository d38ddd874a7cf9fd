// An event type that does not name itself.
// expect: every event type needs `static constexpr std::string_view event_type
#include <bulwark/codec/codec.hpp>
#include <bulwark/eventsource/aggregate.hpp>

struct placed {};
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
struct order : bulwark::aggregate<order, codec, placed> {
    void apply(const placed&) {}
};
int main() {
    order o;
}
