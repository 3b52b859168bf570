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

// Calls f(std::bool_constant<flags[0]>{}, std::bool_constant<flags[1]>{}, ...):
// turns per-step flags into template arguments so that each variant of a loop
// is compiled branch-free. Written with each flag beside the name it takes:
//   with_flags({s.amsgrad, s.nesterov}, [&](auto amsgrad, auto nesterov) { ... });
template <std::size_t I, std::size_t N, class F, class... Fixed>
inline void with_flags_from(const bool (&flags)[N], F& f, Fixed... fixed) {
  if constexpr (I == N) {
    f(fixed...);
  } else if (flags[I]) {
    with_flags_from<I + 1>(flags, f, fixed..., std::true_type{});
  } else {
    with_flags_from<I + 1>(flags, f, fixed..., std::false_type{});
  }
}
template <std::size_t N, class F>
inline void with_flags(const bool (&flags)[N], F&& f) {
  with_flags_from<0>(flags, f);
}

// A rule's options read by name: o[Option::lr], o.flag(Option::amsgrad). The
// options arrive as an array of doubles in the order of the rule's Option enum
// (a scoped enum, so option names never clash with a Step's members).
template <class E>
struct Options {
  const double* values;
  Options(const double* v) : values(v) {}  // NOLINT: implicit, so Step(const double*, ...) calls work
  double operator[](E e) const { return values[static_cast<int>(e)]; }
  bool flag(E e) const { return values[static_cast<int>(e)] != 0.0; }
};

// Each name list of a rule names every enumerator, in order: a rule declares
// `enum class Option { a, b, count }` and `option_names[] = {"a", "b"}`, and
// the registry checks the two at compile time (rules.hpp).
template <class E, std::size_t N>
constexpr bool names_every(const char* const (&names)[N]) {
  if (N != std::size_t(E::count)) return false;
  for (std::size_t k = 0; k < N; ++k)
    if (names[k] == nullptr || names[k][0] == '\0') return false;
  return true;
}

// Scalar state: a rule may keep a few numbers per parameter besides its state
// arrays (NAdam's running product of momentum coefficients, ASGD's eta and
// mu), which the caller of the driver keeps and advances once per step. Such a
// rule declares n_scalars, scalar_names, initial_scalars(options, scalars) and
// advance_scalars<S>(options, step, scalars) (in the precision S they are
// kept in), and its Step<T> takes the scalars the step uses: those after the
// advance, or, if the rule declares advance_after_update = true (ASGD, whose
// step uses the values the previous step left, as torch does), those before it.
// Rules without scalars declare nothing.
template <class Rule, class = void>
struct rule_scalars {
  static constexpr int count = 0;
  static constexpr bool advance_after_update = false;
};
template <class Rule>
struct rule_scalars<Rule, std::void_t<decltype(Rule::n_scalars)>> {
  static constexpr int count = Rule::n_scalars;
  template <class R, class = void>
  struct after : std::false_type {};
  template <class R>
  struct after<R, std::void_t<decltype(R::advance_after_update)>> : std::bool_constant<R::advance_after_update> {};
  static constexpr bool advance_after_update = after<Rule>::value;
};

// The per-step scalars of `Rule` for a step using the given scalar state.
template <class Rule, class T>
typename Rule::template Step<T> make_step(const double* options, std::int64_t step, const double* scalars) {
  if constexpr (rule_scalars<Rule>::count > 0)
    return typename Rule::template Step<T>(options, step, scalars);
  else
    return typename Rule::template Step<T>(options, step);
}

// Runs `update(used)` for step `step` with the scalar state `kept` (n values of
// precision S): advances `kept` before or after the update, as the rule says,
// and passes the values the step uses.
template <class Rule, class S, class Update>
void with_scalars(const double* options, std::int64_t step, S* kept, Update&& update) {
  constexpr int n = rule_scalars<Rule>::count;
  if constexpr (n == 0) {
    update(static_cast<const double*>(nullptr));
  } else {
    double used[n];
    if constexpr (!rule_scalars<Rule>::advance_after_update) Rule::template advance_scalars<S>(options, step, kept);
    for (int k = 0; k < n; ++k) used[k] = double(kept[k]);
    update(static_cast<const double*>(used));
    if constexpr (rule_scalars<Rule>::advance_after_update) Rule::template advance_scalars<S>(options, step, kept);
  }
}

// Linear interpolation a + w (b - a), evaluated as torch.lerp does (the
// formula switches at w = 0.5 to stay accurate near both ends). `small_w`
// is decided once per step by the caller.
template <class T>
inline T lerp(T a, T b, T w, T w_minus_one, bool small_w) {
  return small_w ? a + w * (b - a) : b + w_minus_one * (b - a);
}

PYOPTIM_END_NAMESPACE
