// TorchPlan: a rule bound to the parameters of a torch.optim.Optimizer
// (pyoptim.torch). The tensors are read through their Python attributes
// (`grad`, `data_ptr()`, `numel()`, `is_contiguous()`, `stride()`), so
// pyoptim neither builds nor imports against torch.
//
// Python binds a parameter once (its state tensors and layout); every step,
// bind_grads() re-reads in C++ what may have changed since the last step (the
// gradient tensor, which zero_grad(set_to_none=True) replaces every step; the
// parameter's storage; the entries of its state dict) and reports the slots that
// need Python's attention. partitions() then groups the parameters that step
// together (same group, step count, fresh state and scalar state) and step()
// runs each group in one kernel call.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <tuple>
#include <utility>

#include "bindings.hpp"

namespace pyoptim {
namespace bindings {
namespace {

// A strided view of one tensor, in elements of the kernel's dtype (a complex
// tensor is seen as its real view, with a last dimension of 2).
struct Layout {
  std::vector<std::int64_t> shape, strides;

  std::size_t extent() const {  // elements from the first to one past the last
    std::int64_t last = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 0) return 0;
      last += (shape[d] - 1) * strides[d];
    }
    return std::size_t(last) + 1;
  }
  // Same element order in memory as `other` (dimensions of size 1 carry no order).
  bool same_order(const Layout& other) const {
    if (shape != other.shape) return false;
    for (std::size_t d = 0; d < shape.size(); ++d)
      if (shape[d] != 1 && strides[d] != other.strides[d]) return false;
    return true;
  }
};

// Contiguous strides of `shape` in `order`: order[0] is the outermost dimension.
std::vector<std::int64_t> dense_strides(const std::vector<std::int64_t>& shape, const std::vector<int>& order) {
  std::vector<std::int64_t> strides(shape.size());
  std::int64_t stride = 1;
  for (auto d = order.rbegin(); d != order.rend(); ++d) {
    strides[std::size_t(*d)] = stride;
    stride *= std::max<std::int64_t>(shape[std::size_t(*d)], 1);
  }
  return strides;
}

// Copies between a strided view and a dense one of the same shape (dense =
// `dense_strides` of the view's shape in its own dimension order).
template <class T>
void copy_strided(T* dst, const std::int64_t* dst_strides, const T* src, const std::int64_t* src_strides,
                  const std::int64_t* shape, int ndim) {
  if (ndim == 0) {
    *dst = *src;
    return;
  }
  std::int64_t index[16] = {};
  for (std::int64_t d = 0; d < ndim; ++d)
    if (shape[d] == 0) return;
  while (true) {
    std::int64_t so = 0, doff = 0;
    for (int d = 0; d < ndim - 1; ++d) {
      so += index[d] * src_strides[d];
      doff += index[d] * dst_strides[d];
    }
    const std::int64_t n = shape[ndim - 1], ss = src_strides[ndim - 1], ds = dst_strides[ndim - 1];
    for (std::int64_t i = 0; i < n; ++i) dst[doff + i * ds] = src[so + i * ss];
    int d = ndim - 2;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

// An aligned scratch buffer for a staged tensor.
struct Buffer {
  std::unique_ptr<char[]> bytes;
  char* data = nullptr;
  std::size_t capacity = 0;
  void* reserve(std::size_t n) {
    if (n > capacity) {
      bytes.reset(new char[n + kCacheLine]);
      data = bytes.get() + (kCacheLine - reinterpret_cast<std::uintptr_t>(bytes.get()) % kCacheLine) % kCacheLine;
      capacity = n;
    }
    return data;
  }
};

enum class ParamLayout { contiguous, dense, strided };

struct Slot {
  int group = 0;
  py::object param;  // the torch tensor
  bool bound = false;
  // --- set by bind() ---
  py::object state;  // its state dict in the optimizer
  std::uintptr_t param_ptr = 0;
  std::int64_t numel = 0;  // torch's element count of the parameter
  std::size_t size = 0;    // elements the kernel updates
  DType dtype = DType::f32;
  bool is_complex = false;
  ParamLayout layout = ParamLayout::contiguous;
  Layout view;    // the parameter's layout (kernel elements)
  Layout kernel;  // the layout the kernel streams (the parameter's if dense, else contiguous)
  py::object keys_seen[1 + kMaxScalars + kMaxState];  // state dict entries when bound (null: absent)
  // Where the optimizer's state dict held this parameter's entry when bound (the
  // position PyDict_Next starts from), or -1 if it held none.
  Py_ssize_t state_pos = -1;
  int n_keys = 0;
  void* state_ptr[kMaxState] = {};
  unsigned has_state = 0;  // bit k: state k exists (its pointer may be null for an empty tensor)
  void* step_ptr = nullptr;
  bool step_f64 = false;
  void* scalar_ptr[kMaxScalars] = {};
  bool scalars_f64 = false;  // the scalar state tensors hold float64 (else float32)
  bool scalars_advance_f64 = false;  // ... and advance in float64 (else in float32)
  unsigned fresh = 0;  // bit k: state k holds no history yet
  // --- per step ---
  bool active = false;
  const char* reason = "";  // why bind_grads() last asked Python to look at this slot
  std::uintptr_t grad_ptr = 0;
  std::uintptr_t checked_ptr = 0;  // a gradient address found clear of written memory
  std::size_t checked_elements = 0;
  bool gather_grad = false;
  Layout grad_view;
  Buffer grad_buffer, param_buffer;

  std::size_t itemsize() const { return dtype == DType::f32 ? 4 : 8; }
};

double read_scalar(const void* p, bool f64) { return f64 ? *static_cast<const double*>(p) : double(*static_cast<const float*>(p)); }
void write_scalar(void* p, bool f64, double x) {
  if (f64)
    *static_cast<double*>(p) = x;
  else
    *static_cast<float*>(p) = float(x);
}

// An address or a count returned by a tensor method (a non-negative int).
std::uintptr_t as_address(py::handle h) {
  if (!PyLong_Check(h.ptr())) throw py::type_error("expected an int from the tensor, got " + type_name(h));
  return std::uintptr_t(PyLong_AsUnsignedLongLongMask(h.ptr()));  // the fast conversion: no overflow check needed
}

// Reads a tensor's `grad` and calls its methods through the C functions its
// type defines, without the attribute lookup and bound-method call of each
// access: on torch tensors that lookup is about half the cost of a call, and
// bind_grads() makes five per parameter per step. Falls back to a plain method
// call wherever the type does not have those C entry points (a Python
// subclass that overrides them, a type with its own __getattribute__).
class TensorAccess {
 public:
  enum Method { data_ptr, numel, is_contiguous, stride, n_methods };

  // A new reference, or nullptr with the Python error set.
  PyObject* grad(PyObject* t) {
    const Entry& e = entry(Py_TYPE(t));
    if (e.grad) return e.grad->get(t, e.grad->closure);
    return PyObject_GetAttr(t, names()[n_methods].ptr());
  }

  // A new reference, or nullptr with the Python error set.
  PyObject* call(PyObject* t, Method m) {
    const Entry& e = entry(Py_TYPE(t));
    const PyMethodDef* def = e.methods[m];
    if (def) {
      const int flags = def->ml_flags & ~(METH_CLASS | METH_STATIC | METH_COEXIST);
      if (flags == METH_NOARGS) return def->ml_meth(t, nullptr);
      if (flags == (METH_VARARGS | METH_KEYWORDS))
        return reinterpret_cast<PyCFunctionWithKeywords>(reinterpret_cast<void (*)(void)>(def->ml_meth))(
            t, empty_args().ptr(), nullptr);
      if (flags == METH_VARARGS) return def->ml_meth(t, empty_args().ptr());
    }
    return PyObject_CallMethodNoArgs(t, names()[m].ptr());
  }

 private:
  struct Entry {
    py::object type;
    PyGetSetDef* grad = nullptr;
    const PyMethodDef* methods[n_methods] = {};
  };

  static const std::vector<py::str>& names() {
    static const std::vector<py::str> n = {py::str("data_ptr"), py::str("numel"), py::str("is_contiguous"),
                                           py::str("stride"), py::str("grad")};
    return n;
  }
  static const py::tuple& empty_args() {
    static const py::tuple t;
    return t;
  }

  const Entry& entry(PyTypeObject* type) {
    for (const Entry& e : entries_)
      if (e.type.ptr() == reinterpret_cast<PyObject*>(type)) return e;
    Entry e;
    e.type = py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(type));
    if (type->tp_getattro == PyObject_GenericGetAttr) {
      PyObject* g = _PyType_Lookup(type, names()[n_methods].ptr());
      if (g && Py_TYPE(g) == &PyGetSetDescr_Type) e.grad = reinterpret_cast<PyGetSetDescrObject*>(g)->d_getset;
      for (int m = 0; m < n_methods; ++m) {
        PyObject* d = _PyType_Lookup(type, names()[std::size_t(m)].ptr());
        if (d && Py_TYPE(d) == &PyMethodDescr_Type) e.methods[m] = reinterpret_cast<PyMethodDescrObject*>(d)->d_method;
      }
    }
    entries_.push_back(std::move(e));
    return entries_.back();
  }

  std::vector<Entry> entries_;  // one per tensor type seen (Tensor, Parameter, ...)
};

std::vector<std::int64_t> int_tuple(py::handle h) {
  std::vector<std::int64_t> out;
  for (py::handle x : py::reinterpret_borrow<py::tuple>(h)) out.push_back(x.cast<std::int64_t>());
  return out;
}

class TorchPlan {
 public:
  TorchPlan(const std::string& rule_name, py::object step_key, py::object increment_version)
      : rule_(rule_index(rule_name)), step_key_(step_key), increment_version_(increment_version) {
    const RuleInfo& rule = kRules[rule_];
    if (rule.state_shapes)  // its torch class steps through StepPlan (pyoptim.torch)
      throw py::value_error("rule: '" + std::string(rule.name) + "' keeps state not shaped like its parameters");
    for (py::handle name : interned_names(rule.scalar_names, rule.n_scalars)) scalar_keys_.push_back(py::reinterpret_borrow<py::str>(name));
    for (py::handle name : interned_names(rule.state_names, rule.n_state)) state_keys_.push_back(py::reinterpret_borrow<py::str>(name));
    for_each_key([&](py::handle name) { key_names_.push_back(name.ptr()); });
  }

  // One unbound slot per parameter of each group (`groups`: the groups' "params" lists).
  void reset(py::list groups) {
    Exclusive running(busy_);
    slots_.clear();
    groups_.clear();
    stepped_slots_.clear();
    stepped_params_.clear();
    uniform_.assign(groups.size(), Uniform{});
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!PyList_Check(groups[g].ptr())) throw py::type_error("groups: expected lists of tensors");
      auto params = py::reinterpret_borrow<py::list>(groups[g]);
      groups_.push_back(params);
      for (py::handle p : params) {
        Slot s;
        s.group = int(g);
        s.param = py::reinterpret_borrow<py::object>(p);
        slots_.push_back(std::move(s));
      }
    }
    spans_dirty_ = true;
  }

  void bind(std::size_t index, py::handle spec) {
    Exclusive running(busy_);
    Slot& s = slot(index);
    const RuleInfo& rule = kRules[rule_];
    s.state = spec.attr("state");
    s.param_ptr = as_address(spec.attr("param_ptr"));
    s.numel = spec.attr("numel").cast<std::int64_t>();
    s.dtype = spec.attr("float64").cast<bool>() ? DType::f64 : DType::f32;
    s.is_complex = spec.attr("complex").cast<bool>();
    const std::string layout = spec.attr("layout").cast<std::string>();
    s.layout = layout == "contiguous" ? ParamLayout::contiguous
               : layout == "dense"    ? ParamLayout::dense
                                      : ParamLayout::strided;
    s.view.shape = int_tuple(spec.attr("shape"));
    s.view.strides = int_tuple(spec.attr("strides"));
    if (s.view.shape.size() != s.view.strides.size() || s.view.shape.size() > 15)
      throw py::value_error("spec: shape and strides must have the same length (at most 15)");
    std::size_t size = 1;
    for (auto d : s.view.shape) size *= std::size_t(d);
    s.size = size;
    s.kernel.shape = s.view.shape;
    if (s.layout == ParamLayout::strided) {
      std::vector<int> order(s.view.shape.size());
      for (std::size_t d = 0; d < order.size(); ++d) order[d] = int(d);
      s.kernel.strides = dense_strides(s.view.shape, order);
    } else {
      s.kernel.strides = s.view.strides;
    }
    py::tuple states = spec.attr("states");
    if (int(states.size()) != rule.n_state) throw py::value_error("spec: one state pointer per state key");
    s.has_state = 0;
    for (int k = 0; k < rule.n_state; ++k) {
      py::handle ptr = states[std::size_t(k)];
      s.state_ptr[k] = ptr.is_none() ? nullptr : reinterpret_cast<void*>(as_address(ptr));
      if (!ptr.is_none()) s.has_state |= 1u << k;
    }
    py::object step_ptr = spec.attr("step_ptr");
    s.step_ptr = step_ptr.is_none() ? nullptr : reinterpret_cast<void*>(as_address(step_ptr));
    s.step_f64 = spec.attr("step_float64").cast<bool>();
    py::tuple scalars = spec.attr("scalars");
    if (scalars.size() != scalar_keys_.size()) throw py::value_error("spec: one pointer per scalar key");
    for (std::size_t k = 0; k < scalars.size(); ++k) s.scalar_ptr[k] = reinterpret_cast<void*>(as_address(scalars[k]));
    s.scalars_f64 = spec.attr("scalars_float64").cast<bool>();
    s.scalars_advance_f64 = spec.attr("scalars_advance_float64").cast<bool>();
    s.fresh = spec.attr("fresh").cast<unsigned>();
    // Remember the state dict's entries as they are now.
    if (!PyDict_Check(s.state.ptr())) throw py::type_error("spec.state: expected the parameter's state dict");
    s.n_keys = 0;
    for_each_key([&](py::handle name) { s.keys_seen[s.n_keys++] = lookup(s.state, name); });
    s.state_pos = entry_position(s, index > 0 ? slots_[index - 1].state_pos + 1 : 0);
    s.bound = true;
    spans_dirty_ = true;
  }

  void unbind_group(int group) {
    for (Slot& s : slots_)
      if (s.group == group) s.bound = false;
  }
  void unbind_all() {
    for (Slot& s : slots_) s.bound = false;
  }

  // Reads every parameter's gradient; returns the slots Python must look at
  // (unbound ones with a gradient, moved storage, replaced state entries, a
  // gradient that cannot be used as it is), or None if a group's parameter
  // list was edited in place (Python then rebuilds the plan). Changes nothing
  // a user can see.
  py::object bind_grads() {
    Exclusive running(busy_);
    if (!groups_unchanged()) return py::none();
    const std::size_t n = collect();
    if (n == 0) return py::tuple();  // the empty tuple is shared: nothing allocated on the fast path
    py::list attention;
    for (std::size_t i : attention_) attention.append(i);
    return std::move(attention);
  }

  // The active parameters grouped for stepping: [(group, step count, fresh mask), ...].
  py::list partitions() {
    group_parts();
    py::list out;
    for (const Part& p : parts_) out.append(py::make_tuple(p.group, std::int64_t(p.step), p.fresh));
    return out;
  }

  // One kernel call over partition `part` (of the last partitions()), as its
  // step `step`: the scalar state advances, and each parameter's step count
  // becomes `step`.
  void step(std::size_t part, py::handle options, std::int64_t step, double grad_scale, double clip_value) {
    const RuleInfo& rule = kRules[rule_];
    if (part >= parts_.size()) throw py::index_error("part: no such partition");
    double opts[kMaxOptions];
    read_options(rule, options, opts);
    const GradientClip clip = checked_clip(step, grad_scale, clip_value);
    check_part_states(parts_[part], opts);
    Exclusive running(busy_);
    run_part(parts_[part], opts, step, clip);
  }

  // What the steady step compares before it runs: the optimizer's param_groups
  // list and state dict, and the names of the hyperparameters every group holds.
  void watch(py::list param_groups, py::object state, py::tuple names) {
    watched_groups_ = param_groups;
    watched_state_ = state;
    names_ = names;
    uniform_.assign(groups_.size(), Uniform{});
  }

  // Group `group`'s options for a steady step (None: none), and the values of its
  // hyperparameters they were built from.
  void set_uniform(std::size_t group, py::object options, py::tuple values) {
    if (group >= uniform_.size()) throw py::index_error("group: no such group");
    Uniform u;
    if (!options.is_none()) {
      u.options.resize(kMaxOptions);
      read_options(kRules[rule_], options, u.options.data());
    }
    u.group = py::reinterpret_borrow<py::object>(PyList_GET_ITEM(watched_groups_.ptr(), Py_ssize_t(group)));
    u.values = values;
    uniform_[group] = std::move(u);
  }

  // The whole step in one call, when it is the plain kind: the same param_groups
  // and state as watched, each group's hyperparameters as they were, every
  // parameter usable as bound, no fresh state. Returns False, having changed
  // nothing, when it is not (the caller then takes the general path).
  bool step_uniform(py::handle param_groups, py::handle state, double clip_value) {
    if (param_groups.ptr() != watched_groups_.ptr() || state.ptr() != watched_state_.ptr() ||
        PyList_GET_SIZE(watched_groups_.ptr()) != Py_ssize_t(uniform_.size()))
      return false;
    for (std::size_t g = 0; g < uniform_.size(); ++g)
      if (!unchanged_group(g)) return false;
    Exclusive running(busy_);
    if (!groups_unchanged() || collect() != 0) return false;
    group_parts();
    for (const Part& p : parts_)
      if (p.fresh != 0 || uniform_[std::size_t(p.group)].options.empty() || !(p.step >= 0.0)) return false;
    const GradientClip clip = checked_clip(1, 1.0, clip_value);
    for (const Part& p : parts_) check_part_states(p, uniform_[std::size_t(p.group)].options.data());
    for (const Part& p : parts_)
      run_part(p, uniform_[std::size_t(p.group)].options.data(), std::int64_t(p.step) + 1, clip);
    return true;
  }

  py::tuple gradient_squares() {
    Exclusive running(busy_);
    f32_.clear();
    f64_.clear();
    for (Slot& s : slots_)
      if (s.active) add_ref(s, /*stage_param=*/false);
    return squares_of(f32_, f64_, partials_);
  }

  std::size_t size() const { return slots_.size(); }

  // Whether slot `index` had a gradient at the last bind_grads().
  bool active(std::size_t index) { return slot(index).active; }
  // Why the last bind_grads() reported slot `index`.
  std::string reason(std::size_t index) { return slot(index).reason; }

 private:
  struct Part {
    int group = 0;
    double step = 0.0;
    unsigned fresh = 0;
    double scalars[kMaxScalars] = {};
    bool scalars_f64 = false, scalars_advance_f64 = false;
    std::vector<std::size_t> slots;
  };

  Slot& slot(std::size_t index) {
    if (index >= slots_.size()) throw py::index_error("index: no such parameter slot");
    return slots_[index];
  }

  // Reads and checks every gradient (see bind_grads); the slots needing
  // Python go to attention_. Returns their number.
  std::size_t collect() {
    attention_.clear();
    if (spans_dirty_) index_written_spans();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      s.active = false;
      py::object grad = py::reinterpret_steal<py::object>(access_.grad(s.param.ptr()));
      if (!grad) throw py::error_already_set();
      if (grad.is_none()) continue;
      if (!s.bound)
        s.reason = "unbound";
      else if (!unchanged(s))
        s.reason = "moved, or its state replaced";
      else if (!take_grad(s, grad))
        ;  // take_grad says why
      else {
        s.active = true;
        continue;
      }
      attention_.push_back(i);
    }
    if (attention_.empty()) gather_grads();
    return attention_.size();
  }

  // Groups the active slots into parts_ (same group, step, fresh and scalar state).
  void group_parts() {
    for (Part& p : parts_) p.slots.clear();
    std::size_t used = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (!s.active) continue;
      Part key;
      key.group = s.group;
      key.step = s.step_ptr ? read_scalar(s.step_ptr, s.step_f64) : 0.0;
      key.fresh = s.fresh;
      key.scalars_f64 = s.scalars_f64;
      key.scalars_advance_f64 = s.scalars_advance_f64;
      for (std::size_t k = 0; k < scalar_keys_.size(); ++k) key.scalars[k] = read_scalar(s.scalar_ptr[k], s.scalars_f64);
      auto same = [&](const Part& p) {
        return p.group == key.group && p.step == key.step && p.fresh == key.fresh &&
               p.scalars_f64 == key.scalars_f64 && p.scalars_advance_f64 == key.scalars_advance_f64 &&
               std::equal(p.scalars, p.scalars + kMaxScalars, key.scalars);
      };
      auto at = std::find_if(parts_.begin(), parts_.begin() + std::ptrdiff_t(used), same);
      if (at == parts_.begin() + std::ptrdiff_t(used)) {
        if (used == parts_.size()) parts_.emplace_back();
        std::vector<std::size_t> keep = std::move(parts_[used].slots);  // reuse its capacity
        parts_[used] = key;
        parts_[used].slots = std::move(keep);
        at = parts_.begin() + std::ptrdiff_t(used++);
      }
      at->slots.push_back(i);
    }
    parts_.resize(used);
    for (const Part& p : parts_)
      if (!(p.step >= 0.0) || p.step != double(std::int64_t(p.step)))
        throw py::value_error("state['step']: expected a whole number >= 0, got " + std::to_string(p.step));
  }

  // The tuple of a partition's parameters, kept from the last step when the same
  // slots step again (the common case: no tuple built per step).
  const py::tuple& params_of(const Part& p) {
    const std::size_t index = std::size_t(&p - parts_.data());
    if (stepped_slots_.size() <= index) {
      stepped_slots_.resize(index + 1);
      stepped_params_.resize(index + 1);
    }
    if (stepped_slots_[index] != p.slots || !stepped_params_[index]) {
      py::tuple params(p.slots.size());
      for (std::size_t k = 0; k < p.slots.size(); ++k) params[k] = slots_[p.slots[k]].param;
      stepped_slots_[index] = p.slots;
      stepped_params_[index] = std::move(params);
    }
    return stepped_params_[index];
  }

  void check_part_states(const Part& p, const double* opts) const {
    const RuleInfo& rule = kRules[rule_];
    bool has_state[kMaxState];
    for (int k = 0; k < rule.n_state; ++k) {
      has_state[k] = true;
      for (std::size_t i : p.slots) has_state[k] = has_state[k] && (slots_[i].has_state >> k & 1u);
    }
    check_states_present(rule, opts, has_state, !p.slots.empty());
  }

  // The kernel over one partition as its step `step`, then its step counts,
  // scalar state and autograd versions.
  void run_part(const Part& p, const double* opts, std::int64_t step, const GradientClip& clip) {
    const RuleInfo& rule = kRules[rule_];
    // The scalar state advances in the precision torch would (see the spec's
    // scalars_advance_float64) and is stored in its tensors' dtype.
    double scalars[kMaxScalars] = {p.scalars[0], p.scalars[1]};
    with_scalars(rule, opts, step, scalars, !p.scalars_advance_f64, [&](const double* used) {
      f32_.clear();
      f64_.clear();
      for (std::size_t i : p.slots) add_ref(slots_[i], /*stage_param=*/true);
      run_rule(rule_, opts, step, f32_, f64_, clip, used);
    });
    for (std::size_t i : p.slots) {
      Slot& s = slots_[i];
      if (s.layout == ParamLayout::strided) scatter_param(s);
      if (s.step_ptr) write_scalar(s.step_ptr, s.step_f64, double(step));
      for (std::size_t k = 0; k < scalar_keys_.size(); ++k) write_scalar(s.scalar_ptr[k], s.scalars_f64, scalars[k]);
      s.fresh = 0;
    }
    if (!increment_version_.is_none() && !p.slots.empty()) increment_version_(params_of(p));
  }

  template <class F>
  void for_each_key(F&& f) const {
    if (!step_key_.is_none()) f(step_key_);
    for (const auto& k : scalar_keys_) f(k);
    for (const auto& k : state_keys_) f(k);
  }

  static py::object lookup(py::handle dict, py::handle key) {
    if (!PyDict_Check(dict.ptr())) return py::object();
    PyObject* v = PyDict_GetItemWithError(dict.ptr(), key.ptr());
    if (!v && PyErr_Occurred()) throw py::error_already_set();
    return py::reinterpret_borrow<py::object>(v);
  }

  // Group g is the same dict, with the hyperparameter values its options were built from.
  bool unchanged_group(std::size_t g) const {
    const Uniform& u = uniform_[g];
    PyObject* group = PyList_GET_ITEM(watched_groups_.ptr(), Py_ssize_t(g));
    if (!u.group || group != u.group.ptr() || !PyDict_Check(group)) return false;
    const Py_ssize_t n = PyTuple_GET_SIZE(names_.ptr());
    if (!u.values || !PyTuple_Check(u.values.ptr()) || PyTuple_GET_SIZE(u.values.ptr()) != n) return false;
    for (Py_ssize_t k = 0; k < n; ++k) {
      PyObject* now = PyDict_GetItemWithError(group, PyTuple_GET_ITEM(names_.ptr(), k));
      PyObject* then = PyTuple_GET_ITEM(u.values.ptr(), k);
      if (!now) {
        PyErr_Clear();
        return false;
      }
      if (now == then) continue;
      const int same = PyObject_RichCompareBool(now, then, Py_EQ);  // a new float of the same value, a tensor
      if (same != 1) {
        PyErr_Clear();
        return false;
      }
    }
    return true;
  }

  // Every group's parameter list still holds the slots' tensors, in order
  // (slots are laid out group after group).
  bool groups_unchanged() const {
    std::size_t i = 0;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      PyObject* list = groups_[g].ptr();
      Py_ssize_t n = 0;
      for (; i < slots_.size() && slots_[i].group == int(g); ++i, ++n)
        if (n >= PyList_GET_SIZE(list) || PyList_GET_ITEM(list, n) != slots_[i].param.ptr()) return false;
      if (PyList_GET_SIZE(list) != n) return false;
    }
    return true;
  }

  // Where the optimizer's state dict holds slot `s`'s parameter, searched from `hint`
  // (parameters get their entries in order, so the last one's position + 1 usually
  // hits), or -1 if it holds none. Positions are stable while the dict is not resized.
  Py_ssize_t entry_position(const Slot& s, Py_ssize_t hint) const {
    PyObject* state = watched_state_.ptr();
    if (!state || !PyDict_Check(state)) return -1;
    PyObject *key, *value;
    // From the hint to the end, then from the start to the hint.
    for (auto [start, stop] : {std::pair<Py_ssize_t, Py_ssize_t>{hint, PY_SSIZE_T_MAX}, {0, hint}}) {
      Py_ssize_t pos = start, at = start;
      while (at < stop && PyDict_Next(state, &pos, &key, &value)) {
        if (key == s.param.ptr()) return value == s.state.ptr() ? at : -1;
        at = pos;
      }
    }
    return -1;
  }

  // The parameter's storage, its entry in the optimizer's state dict (the same dict,
  // not replaced as ZeroRedundancyOptimizer.load_state_dict replaces it) and that
  // dict's entries are those it was bound with.
  bool unchanged(Slot& s) {
    py::object ptr = call(s.param, TensorAccess::data_ptr);
    if (!ptr || as_address(ptr) != s.param_ptr) return false;
    if (s.state_pos >= 0) {
      Py_ssize_t pos = s.state_pos;
      PyObject *key, *value;
      if (!PyDict_Next(watched_state_.ptr(), &pos, &key, &value) || key != s.param.ptr() || value != s.state.ptr()) {
        // The dict may have been compacted (an entry deleted, then a resize): look again.
        const Py_ssize_t found = entry_position(s, s.state_pos);
        if (found < 0) return false;
        s.state_pos = found;
      }
    }  // (no entry kept: the rule needs none, SGD without momentum; a change of options rebinds)
    PyObject* const* keys = key_names_.data();
    for (int k = 0; k < s.n_keys; ++k) {
      PyObject* now = PyDict_GetItemWithError(s.state.ptr(), keys[k]);  // borrowed
      if (now != s.keys_seen[k].ptr()) {
        if (!now && PyErr_Occurred()) throw py::error_already_set();
        return false;
      }
    }
    return true;
  }

  // Takes this step's gradient of a bound slot, or returns false (Python then
  // says what is wrong with it).
  bool take_grad(Slot& s, const py::object& grad) {
    s.reason = "grad has no data pointer (not a dense tensor)";
    py::object ptr = call(grad, TensorAccess::data_ptr);
    if (!ptr) return false;
    s.reason = "grad has not the parameter's number of elements";
    py::object n = call(grad, TensorAccess::numel);
    if (!n || std::int64_t(as_address(n)) != s.numel) return false;
    s.reason = "grad shares memory with a parameter or a state tensor the step writes";
    s.grad_ptr = as_address(ptr);
    s.gather_grad = false;
    if (s.layout == ParamLayout::contiguous) {
      py::object c = call(grad, TensorAccess::is_contiguous);
      if (!c) return false;
      if (c.ptr() == Py_True) return grad_fits(s, s.size);
    }
    s.reason = "grad has no strides (not a dense tensor)";
    py::object st = call(grad, TensorAccess::stride);
    if (!st) return false;
    Layout g;
    g.shape = s.view.shape;
    g.strides = int_tuple(st);
    if (s.is_complex) {
      for (auto& x : g.strides) x *= 2;
      g.strides.push_back(1);
    }
    if (g.strides.size() != g.shape.size()) return false;
    s.reason = "grad shares memory with a parameter or a state tensor the step writes";
    if (g.same_order(s.kernel)) return grad_fits(s, s.size);
    s.gather_grad = true;
    s.grad_view = std::move(g);
    return grad_fits(s, s.grad_view.extent());
  }

  // The gradient's bytes overlap no parameter or state the step writes.
  bool grad_fits(Slot& s, std::size_t elements) const {
    if (elements == 0 || (s.grad_ptr == s.checked_ptr && elements == s.checked_elements)) return true;
    const char* begin = reinterpret_cast<const char*>(s.grad_ptr);
    const char* end = begin + elements * s.itemsize();
    // The written spans are sorted by start and disjoint.
    const std::size_t after = std::size_t(std::upper_bound(written_begin_.begin(), written_begin_.end(), begin) -
                                          written_begin_.begin());
    if (after < written_begin_.size() && written_begin_[after] < end) return false;
    if (after > 0 && written_end_[after - 1] > begin) return false;
    s.checked_ptr = s.grad_ptr;  // the written spans change only when a slot is bound (which resets this)
    s.checked_elements = elements;
    return true;
  }

  py::object call(const py::object& obj, TensorAccess::Method method) {
    PyObject* r = access_.call(obj.ptr(), method);
    if (!r) {
      PyErr_Clear();
      return py::object();
    }
    return py::reinterpret_steal<py::object>(r);
  }

  void index_written_spans() {
    for (Slot& s : slots_) s.checked_ptr = s.checked_elements = 0;  // checked against the old spans only
    std::vector<Span> spans;
    const RuleInfo& rule = kRules[rule_];
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (!s.bound || s.size == 0) continue;
      const std::string index = "[" + std::to_string(i) + "]";
      const char* p = reinterpret_cast<const char*>(s.param_ptr);
      spans.push_back({p, p + s.view.extent() * s.itemsize(), true, "param" + index});
      for (int k = 0; k < rule.n_state; ++k)
        if (s.has_state >> k & 1u) {
          const char* a = static_cast<const char*>(s.state_ptr[k]);
          spans.push_back({a, a + s.size * s.itemsize(), true, std::string(rule.state_names[k]) + index});
        }
    }
    check_no_overlap(spans);
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    written_begin_.clear();
    written_end_.clear();
    for (const Span& w : spans) {
      written_begin_.push_back(w.begin);
      written_end_.push_back(w.end);
    }
    spans_dirty_ = false;
  }

  void gather_grads() {
    for (Slot& s : slots_) {
      if (!s.active || !s.gather_grad) continue;
      void* dst = s.grad_buffer.reserve(s.size * s.itemsize());
      const int nd = int(s.kernel.shape.size());
      if (s.dtype == DType::f32)
        copy_strided(static_cast<float*>(dst), s.kernel.strides.data(), reinterpret_cast<const float*>(s.grad_ptr),
                     s.grad_view.strides.data(), s.kernel.shape.data(), nd);
      else
        copy_strided(static_cast<double*>(dst), s.kernel.strides.data(), reinterpret_cast<const double*>(s.grad_ptr),
                     s.grad_view.strides.data(), s.kernel.shape.data(), nd);
    }
  }

  template <class T>
  void copy_param(Slot& s, bool in) {
    T* buffer = static_cast<T*>(s.param_buffer.reserve(s.size * sizeof(T)));
    T* param = reinterpret_cast<T*>(s.param_ptr);
    const int nd = int(s.view.shape.size());
    if (in)
      copy_strided(buffer, s.kernel.strides.data(), param, s.view.strides.data(), s.view.shape.data(), nd);
    else
      copy_strided(param, s.view.strides.data(), buffer, s.kernel.strides.data(), s.view.shape.data(), nd);
  }
  void scatter_param(Slot& s) {
    if (s.dtype == DType::f32)
      copy_param<float>(s, false);
    else
      copy_param<double>(s, false);
  }

  // Adds the slot's tensors to f32_/f64_ (a strided parameter is gathered
  // into its buffer first when `stage_param`).
  void add_ref(Slot& s, bool stage_param) {
    if (s.dtype == DType::f32)
      f32_.push_back(ref_of<float>(s, stage_param));
    else
      f64_.push_back(ref_of<double>(s, stage_param));
  }
  template <class T>
  TensorRef<T> ref_of(Slot& s, bool stage_param) {
    TensorRef<T> r{};
    if (s.layout == ParamLayout::strided) {
      if (stage_param) copy_param<T>(s, true);
      r.param = static_cast<T*>(s.param_buffer.reserve(s.size * sizeof(T)));
    } else {
      r.param = reinterpret_cast<T*>(s.param_ptr);
    }
    r.grad = s.gather_grad ? static_cast<const T*>(static_cast<void*>(s.grad_buffer.data))
                           : reinterpret_cast<const T*>(s.grad_ptr);
    for (int k = 0; k < kMaxState; ++k) r.state[k] = static_cast<T*>(s.state_ptr[k]);
    r.size = s.size;
    return r;
  }

  int rule_;
  py::object step_key_;
  std::vector<py::object> scalar_keys_;
  std::vector<py::object> state_keys_;
  std::vector<PyObject*> key_names_;  // step, scalar and state keys, in for_each_key order (owned above)
  py::object increment_version_;
  std::vector<py::list> groups_;
  std::vector<Slot> slots_;
  TensorAccess access_;
  // Every bound parameter and state (what a step writes), sorted by address.
  std::vector<const char*> written_begin_, written_end_;
  bool spans_dirty_ = true;
  std::vector<Part> parts_;
  std::vector<std::size_t> attention_;
  // The steady step's view of each group: its dict, the hyperparameter values it
  // was built from, and its options parsed (empty: no steady step for it).
  struct Uniform {
    py::object group;
    py::object values;  // a tuple, in names_ order
    std::vector<double> options;
  };
  std::vector<Uniform> uniform_;
  py::list watched_groups_;
  py::object watched_state_;
  py::tuple names_;
  std::vector<std::vector<std::size_t>> stepped_slots_;  // per partition: the slots of its last step
  std::vector<py::tuple> stepped_params_;  // and the tuple of their parameters (for increment_version)
  std::vector<TensorRef<float>> f32_;
  std::vector<TensorRef<double>> f64_;
  std::vector<double> partials_;
  std::atomic<bool> busy_{false};
};

}  // namespace

void bind_torch_plan(py::module_& m) {
  py::class_<TorchPlan>(m, "TorchPlan",
                        "An update rule bound to a torch optimizer's parameters, read through their\n"
                        "Python attributes (pyoptim.torch drives it).")
      .def(py::init<const std::string&, py::object, py::object>(), py::arg("rule"), py::arg("step_key"),
           py::arg("increment_version"))
      .def("reset", &TorchPlan::reset, py::arg("groups"))
      .def("bind", &TorchPlan::bind, py::arg("index"), py::arg("spec"))
      .def("unbind_group", &TorchPlan::unbind_group, py::arg("group"))
      .def("unbind_all", &TorchPlan::unbind_all)
      .def("bind_grads", &TorchPlan::bind_grads)
      .def("partitions", &TorchPlan::partitions)
      .def("watch", &TorchPlan::watch, py::arg("param_groups"), py::arg("state"), py::arg("names"))
      .def("set_uniform", &TorchPlan::set_uniform, py::arg("group"), py::arg("options"), py::arg("values"))
      .def("step_uniform", &TorchPlan::step_uniform, py::arg("param_groups"), py::arg("state"),
           py::arg("clip_value"))
      .def("step", &TorchPlan::step, py::arg("part"), py::arg("options"), py::arg("step"),
           py::arg("grad_scale") = 1.0, py::arg("clip_value") = std::numeric_limits<double>::infinity())
      .def("gradient_squares", &TorchPlan::gradient_squares)
      .def("active", &TorchPlan::active, py::arg("index"))
      .def("reason", &TorchPlan::reason, py::arg("index"))
      .def("__len__", &TorchPlan::size);
}

}  // namespace bindings
}  // namespace pyoptim
