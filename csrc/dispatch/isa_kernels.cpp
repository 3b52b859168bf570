// Compiled once per instruction set with PYOPTIM_ISA_NAMESPACE set to its name
// and that set's compiler flags (see CMakeLists.txt). Exports the set's table.
#include "kernel_table.hpp"

#define PYOPTIM_STRINGIFY_(x) #x
#define PYOPTIM_STRINGIFY(x) PYOPTIM_STRINGIFY_(x)

namespace pyoptim {
namespace PYOPTIM_ISA_NAMESPACE {

extern const KernelTable kernel_table;
const KernelTable kernel_table = {
    PYOPTIM_STRINGIFY(PYOPTIM_ISA_NAMESPACE),
#define PYOPTIM_F32(Rule) &step_tensors<Rule, float>,
    {PYOPTIM_FOR_EACH_RULE(PYOPTIM_F32)},
#undef PYOPTIM_F32
#define PYOPTIM_F64(Rule) &step_tensors<Rule, double>,
    {PYOPTIM_FOR_EACH_RULE(PYOPTIM_F64)},
#undef PYOPTIM_F64
    &gradient_squares<float>,
    &gradient_squares<double>,
};

}  // namespace PYOPTIM_ISA_NAMESPACE
}  // namespace pyoptim
