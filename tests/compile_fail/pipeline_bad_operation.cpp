// An operation that takes neither a context nor nothing.
// expect: the operation must be callable as op\(bulwark::context&\) or as op\(\)
#include <bulwark/pipeline.hpp>

int main() {
    bulwark::pipeline p{bulwark::pass_through{}};
    p.execute([](int x) { return x; });
}
