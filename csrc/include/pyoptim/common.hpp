// Shared definitions for the update kernels. Plain C++17, no Python.
//
// A kernel is compiled once per instruction set (see csrc/dispatch): each
// compilation defines PYOPTIM_ISA_NAMESPACE, so the instantiations land in
// distinct namespaces and the linker can never merge an AVX-512 copy into the
// portable path. A C++ user who includes these headers alone gets them in
// pyoptim::generic, reachable as pyoptim::... through the inline namespace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#ifndef PYOPTIM_ISA_NAMESPACE
#define PYOPTIM_ISA_NAMESPACE generic
#endif

#define PYOPTIM_BEGIN_NAMESPACE \
  namespace pyoptim {           \
  inline namespace PYOPTIM_ISA_NAMESPACE {
#define PYOPTIM_END_NAMESPACE \
  }                           \
  }

#if defined(__GNUC__) || defined(__clang__)
#define PYOPTIM_RESTRICT __restrict__
#define PYOPTIM_SIMD _Pragma("omp simd")
#elif defined(_MSC_VER)
#define PYOPTIM_RESTRICT __restrict
#define PYOPTIM_SIMD
#else
#define PYOPTIM_RESTRICT
#define PYOPTIM_SIMD
#endif

PYOPTIM_BEGIN_NAMESPACE

// Calls f(std::bool_constant<b0>{}, std::bool_constant<b1>{}, ...): turns
// per-step flags into template arguments so that each variant of a loop is
// compiled branch-free.
template <class F>
inline void with_flags(F&& f) {
  f();
}
template <class F, class... Rest>
inline void with_flags(F&& f, bool first, Rest... rest) {
  if (first) {
    with_flags([&](auto... flags) { f(std::true_type{}, flags...); }, rest...);
  } else {
    with_flags([&](auto... flags) { f(std::false_type{}, flags...); }, rest...);
  }
}

// Scalar state: a rule may keep a few numbers per parameter besides its state
// arrays (NAdam's running product of momentum coefficients), which the driver
// advances before each update. Such a rule declares n_scalars, scalar_names,
// scalar_initial and advance_scalars<S>(options, step, scalars), and its
// Step<T> takes the advanced scalars; rules without any declare nothing.
template <class Rule, class = void>
struct rule_scalars {
  static constexpr int count = 0;
};
template <class Rule>
struct rule_scalars<Rule, std::void_t<decltype(Rule::n_scalars)>> {
  static constexpr int count = Rule::n_scalars;
};

// The per-step scalars of `Rule` for a step with the given (advanced) scalar state.
template <class Rule, class T>
typename Rule::template Step<T> make_step(const double* options, std::int64_t step, const double* scalars) {
  if constexpr (rule_scalars<Rule>::count > 0)
    return typename Rule::template Step<T>(options, step, scalars);
  else
    return typename Rule::template Step<T>(options, step);
}

// Linear interpolation a + w (b - a), evaluated as torch.lerp does (the
// formula switches at w = 0.5 to stay accurate near both ends). `small_w`
// is decided once per step by the caller.
template <class T>
inline T lerp(T a, T b, T w, T w_minus_one, bool small_w) {
  return small_w ? a + w * (b - a) : b + w_minus_one * (b - a);
}

PYOPTIM_END_NAMESPACE
