"""Deciding a value hint on generic inputs of the counterexample's shapes (see ``hints``)."""

from __future__ import annotations

import numpy

from .compare import as_np, is_array
from .hints import (
    PROBE_SEED,
    PROBES,
    STRUCTURAL,
    candidate_factors,
    classify,
    generic,
    offset_by_input,
    scaled_input,
)


def _probe_inputs(example, comparison):
    """``PROBES`` generic input tuples of the example's shapes on which the reference gives finite
    results (standard normal values, else positive ones), drawn from a fixed seed."""
    rng = numpy.random.default_rng(PROBE_SEED)
    out = []
    for _ in range(PROBES):
        for positive in (False, True):
            inputs = generic(example, rng, positive)
            collect = {}
            comparison.check_one(inputs, PROBE_SEED, True, collect)
            if collect and not collect.get("_skip"):
                out.append(inputs)
                break
    return out


def _verdict(collect, wheres, comparison):
    """(hint, factor) on one probe, or None when the error does not show there."""
    if any(w not in collect for w in wheres[:1]):
        return ("other", None)
    e, g, touched = collect[wheres[0]]
    atol, rtol = comparison.atol, comparison.rtol
    if numpy.allclose(g, e, atol=atol, rtol=rtol):
        return None
    hint, factor = classify(e, g, atol, rtol, touched, min_elements=1)
    joint = [w for w in wheres if w in collect]
    if hint in ("other", "mask") and len(joint) > 1:
        # one factor shared by all the wrong gradients (e.g. a forgotten scale in dQ and dK)
        je = numpy.concatenate([collect[w][0].ravel() for w in joint])
        jg = numpy.concatenate([collect[w][1].ravel() for w in joint])
        jhint, jfactor = classify(je, jg, atol, rtol, min_elements=1)
        if jhint in ("sign", "scale", "zeros"):
            return jhint, jfactor
    return hint, factor


def _agree(verdicts, hint, factor):
    if not verdicts or any(v[0] != hint for v in verdicts):
        return False
    if hint == "scale":
        c0 = factor if factor is not None else verdicts[0][1]
        return all(abs(c - c0) <= 1e-3 * abs(c0) for _, c in verdicts)
    return True


def _bias(probes, where, comparison):
    """The ``bias`` explanation when every probe shows the same offset by an input, else None."""
    found = set()
    for inputs in probes:
        collect = {}
        comparison.check_one(inputs, PROBE_SEED, True, collect)
        if where not in collect:
            return None
        e, g, _ = collect[where]
        if numpy.allclose(g, e, atol=comparison.atol, rtol=comparison.rtol):
            continue
        found.add(offset_by_input(e, g, inputs, comparison.atol, comparison.rtol))
    return found.pop() if len(found) == 1 and None not in found else None


def _scale_inside(probes, example, comparison):
    """(input index, factor) when the student's forward equals the reference's with one input
    multiplied by a factor from the shapes, on every probe; else None."""
    for c in candidate_factors(example):
        for i in range(len(example)):
            if not is_array(example[i]) or as_np(example[i]).dtype.kind != "f":
                continue

            def reference(*xs, i=i, c=c):
                return comparison.reference(*scaled_input(xs, i, c))

            if all(comparison.check_one(p, PROBE_SEED, True, None, reference=reference) is None for p in probes):
                return i, c
    return None


def decide(fields, example, comparison):
    """The report fields of the smallest failing input, with the hint decided on the probes."""
    hint = fields["hint"]
    if hint in STRUCTURAL or "where" not in fields or fields["where"].startswith("the backward against"):
        return fields
    wheres = [fields["where"]] + list(fields.get("_also", []))
    forward_only = "gradient" not in fields["where"]
    probes = _probe_inputs(example, comparison)
    verdicts, note = [], ""
    for inputs in probes:
        collect = {}
        comparison.check_one(inputs, PROBE_SEED, forward_only, collect)
        v = _verdict(collect, wheres, comparison)
        if v is not None:
            verdicts.append(v)
    if verdicts:
        first_hint, first_factor = verdicts[0]
        if _agree(verdicts, first_hint, first_factor):
            fields.update(hint=first_hint, factor=first_factor)
        else:
            seen = ", ".join(sorted({v[0] for v in verdicts}))
            fields.update(hint="other", factor=None)
            note = f"On generic inputs of these shapes the error looks different from one input to the next ({seen})."
    elif hint in ("zeros", "scale", "mask"):  # seen only on the degenerate shrunk values
        fields.update(hint="other", factor=None)
    if fields["hint"] in ("other", "mask") and forward_only and probes:
        _explain_output(fields, probes, example, comparison)
    if fields["hint"] == "other" and note:
        fields["detail"] = (fields.get("detail", "") + " " + note).strip()
    return fields


def _explain_output(fields, probes, example, comparison):
    bias = _bias(probes, fields["where"], comparison)
    if bias:
        fields.update(hint="bias", factor=None)
        fields["detail"] = (fields.get("detail", "") + f" On generic inputs {bias}.").strip()
        return
    inside = _scale_inside(probes, example, comparison)
    if inside:
        i, c = inside
        fields.update(hint="scale", factor=c, scaled_input=i)
