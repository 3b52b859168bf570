// Every update rule, and the one list that registers them. Adding a rule:
// write rules/<name>.hpp, include it here and add it to PYOPTIM_FOR_EACH_RULE.
#pragma once

#include <iterator>

#include "multi_tensor.hpp"
#include "rules/adadelta.hpp"
#include "rules/adafactor.hpp"
#include "rules/adagrad.hpp"
#include "rules/adam.hpp"
#include "rules/adamax.hpp"
#include "rules/asgd.hpp"
#include "rules/lamb.hpp"
#include "rules/lars.hpp"
#include "rules/lbfgs.hpp"
#include "rules/lion.hpp"
#include "rules/memory_roof.hpp"
#include "rules/muon.hpp"
#include "rules/nadam.hpp"
#include "rules/radam.hpp"
#include "rules/rmsprop.hpp"
#include "rules/rprop.hpp"
#include "rules/schedule_free.hpp"
#include "rules/sgd.hpp"
#include "rules/sparse_adam.hpp"

#define PYOPTIM_FOR_EACH_RULE(X) \
  X(SGD)                         \
  X(Adam)                        \
  X(Adagrad)                     \
  X(RMSprop)                     \
  X(Adadelta)                    \
  X(NAdam)                       \
  X(RAdam)                       \
  X(Adamax)                      \
  X(Lion)                        \
  X(Rprop)                       \
  X(ASGD)                        \
  X(LAMB)                        \
  X(LARS)                        \
  X(ScheduleFree)                \
  X(SparseAdam)                  \
  X(Adafactor)                   \
  X(Muon)                        \
  X(LBFGS)                       \
  X(MemoryRoof)

PYOPTIM_BEGIN_NAMESPACE

// Each rule's name lists name every enumerator (a missing or extra name is a
// compile error here, not a surprise at import).
template <class Rule>
constexpr bool scalars_named() {
  if constexpr (rule_scalars<Rule>::count > 0)
    return std::size(Rule::scalar_names) == std::size_t(Rule::n_scalars);
  return true;
}
template <class Rule>
constexpr bool reductions_named() {
  if constexpr (rule_reductions<Rule>::count > 0)
    return std::size(Rule::reduction_names) == std::size_t(Rule::n_reductions);
  return true;
}
template <class Rule, class = void>
struct rule_state_shapes {
  static const StateShape* get() { return nullptr; }  // every state like the parameter
};
template <class Rule>
struct rule_state_shapes<Rule, std::void_t<decltype(Rule::state_shapes)>> {
  static const StateShape* get() { return Rule::state_shapes; }
  static_assert(std::size(Rule::state_shapes) == std::size_t(Rule::n_state), "state_shapes must shape each State");
};
#define PYOPTIM_CHECK_NAMES(Rule)                                                                       \
  static_assert(names_every<Rule::Option>(Rule::option_names), #Rule ": option_names must name each Option"); \
  static_assert(Rule::n_state == 0 || std::size(Rule::state_names) == std::size_t(Rule::n_state), \
                #Rule ": state_names must name each State"); \
  static_assert(scalars_named<Rule>(), #Rule ": scalar_names must name each Scalar"); \
  static_assert(reductions_named<Rule>(), #Rule ": reduction_names must name each Reduction");
PYOPTIM_FOR_EACH_RULE(PYOPTIM_CHECK_NAMES)
#undef PYOPTIM_CHECK_NAMES

PYOPTIM_END_NAMESPACE
