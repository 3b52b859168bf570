// Every update rule, and the one list that registers them. Adding a rule:
// write rules/<name>.hpp, include it here and add it to PYOPTIM_FOR_EACH_RULE.
#pragma once

#include "multi_tensor.hpp"
#include "rules/adadelta.hpp"
#include "rules/adagrad.hpp"
#include "rules/adam.hpp"
#include "rules/adamax.hpp"
#include "rules/lion.hpp"
#include "rules/memory_roof.hpp"
#include "rules/nadam.hpp"
#include "rules/radam.hpp"
#include "rules/rmsprop.hpp"
#include "rules/sgd.hpp"

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
  X(MemoryRoof)
