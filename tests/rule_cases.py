"""Hyperparameter cases shared by the rule tests: non-default values that
exercise every branch of each kernel (momentum, Nesterov, decay, AMSGrad, ...)."""

CASES = {
    "SGD": [
        dict(lr=0.05),
        dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        dict(lr=0.03, momentum=0.8, nesterov=True, weight_decay=0.02, maximize=True),
    ],
    "Adam": [
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
        dict(lr=0.02, amsgrad=True, maximize=True),
        dict(lr=0.01, betas=(0.3, 0.9), decoupled_weight_decay=True, weight_decay=0.1),  # lerp's other form
    ],
    "AdamW": [
        dict(lr=0.01, betas=(0.85, 0.995), weight_decay=0.1, amsgrad=True),
    ],
}


def case_ids():
    return [(name, i) for name, cases in CASES.items() for i in range(len(cases))]
