#include "dispatch.hpp"

#include <atomic>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyoptim {
#define PYOPTIM_DECLARE_TABLE(isa) \
  namespace isa {                  \
  extern const KernelTable kernel_table; \
  }
#ifdef PYOPTIM_HAVE_GENERIC
PYOPTIM_DECLARE_TABLE(generic)
#endif
#ifdef PYOPTIM_HAVE_AVX2
PYOPTIM_DECLARE_TABLE(avx2)
#endif
#ifdef PYOPTIM_HAVE_AVX512
PYOPTIM_DECLARE_TABLE(avx512)
#endif

namespace {

std::atomic<const KernelTable*> active{nullptr};

int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
std::atomic<int> threads{default_threads()};

}  // namespace

const std::vector<const KernelTable*>& compiled_kernels() {
  static const std::vector<const KernelTable*> tables = {
#ifdef PYOPTIM_HAVE_GENERIC
      &generic::kernel_table,
#endif
#ifdef PYOPTIM_HAVE_AVX2
      &avx2::kernel_table,
#endif
#ifdef PYOPTIM_HAVE_AVX512
      &avx512::kernel_table,
#endif
  };
  return tables;
}

bool cpu_supports(const std::string& isa) {
  if (isa == "generic") return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  // libgcc's checks include the OS's XSAVE support for the wider registers.
  __builtin_cpu_init();
  if (isa == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return false;
}

const KernelTable& select_kernels(const std::string& limit) {
  const auto& tables = compiled_kernels();
  bool known = limit.empty();
  for (const KernelTable* t : tables) known = known || limit == t->isa;
  if (!known) throw std::invalid_argument(limit);
  const KernelTable* best = tables.front();
  for (const KernelTable* t : tables) {
    if (cpu_supports(t->isa)) best = t;
    if (limit == t->isa) break;
  }
  active.store(best);
  return *best;
}

const KernelTable& active_kernels() {
  const KernelTable* t = active.load();
  return t ? *t : select_kernels("");
}

int num_threads() { return threads.load(); }

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("threads must be >= 1");
  threads.store(n);
}

}  // namespace pyoptim
