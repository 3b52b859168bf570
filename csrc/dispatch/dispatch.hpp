// Run-time choice of the instruction-set build, and the thread count.
#pragma once

#include <string>
#include <vector>

#include "kernel_table.hpp"

namespace pyoptim {

// Builds compiled into this binary, from the most portable to the fastest.
const std::vector<const KernelTable*>& compiled_kernels();
// Whether this CPU (and OS) can run the build named `isa`.
bool cpu_supports(const std::string& isa);
// The build in use. Chosen at import; select_kernels() changes it.
const KernelTable& active_kernels();
// Selects the fastest supported build no faster than `limit` ("" = no limit).
// Throws std::invalid_argument for an unknown name.
const KernelTable& select_kernels(const std::string& limit);

int num_threads();
void set_num_threads(int threads);

}  // namespace pyoptim
