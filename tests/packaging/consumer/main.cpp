#include <bulwark/bulwark.hpp>

int main() {
    bulwark::pipeline p{bulwark::pass_through{}};
    return p.execute([](bulwark::context& ctx) { return static_cast<int>(ctx.attempt()) - 1; });
}
