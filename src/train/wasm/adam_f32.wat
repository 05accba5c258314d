;; Adam's float32 update (src/train/adam.ts) over one chunk held in this module's
;; memory, in float32 arithmetic operation by operation, four lanes at a time.
;;
;; The chunk's four arrays lie one after another, `cap` elements each, from
;; byte 0: θ, gradient, first moment, second moment. `adam` updates the first
;; `n` elements in place (n ≤ cap) and returns n, or, when a gradient element
;; is not finite, the index of the first such one, having updated exactly the
;; elements before it. With λ ≠ 0 the gradient is g + λ·θ (checked before).
;;
;; Edit this file, then `deno task wasm` regenerates adam_f32_wasm.ts from it
;; (a test compiles it again and compares).
(module
  (memory (export "memory") 1)
  (func (export "adam")
    (param $n i32) (param $cap i32)
    (param $b1 f32) (param $b2 f32) (param $c1 f32) (param $c2 f32)
    (param $stepSize f32) (param $bc2Sqrt f32) (param $eps f32) (param $weightDecay f32)
    (result i32)
    (local $i i32) (local $simdEnd i32) (local $end i32)
    (local $g i32) (local $m i32) (local $v i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    ;; byte offsets of the gradient and the moments; $i runs over bytes
    (local.set $g (i32.shl (local.get $cap) (i32.const 2)))
    (local.set $m (i32.shl (local.get $cap) (i32.const 3)))
    (local.set $v (i32.mul (local.get $cap) (i32.const 12)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $simdEnd (i32.and (local.get $end) (i32.const -16)))
    ;; Four elements at a time until the last whole vector or one holding a
    ;; non-finite gradient (x − x ≠ 0 only for NaN and ±∞), which the scalar
    ;; loop below then takes element by element.
    (block $vectorsDone
      (loop $vectors
        (br_if $vectorsDone (i32.ge_u (local.get $i) (local.get $simdEnd)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (br_if $vectorsDone
          (v128.any_true (f32x4.ne (f32x4.sub (local.get $gv) (local.get $gv)) (f32x4.splat (f32.const 0)))))
        (if (f32.ne (local.get $weightDecay) (f32.const 0))
          (then (local.set $gv
            (f32x4.add (local.get $gv) (f32x4.mul (f32x4.splat (local.get $weightDecay)) (v128.load (local.get $i)))))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (f32x4.splat (local.get $b1)) (v128.load (i32.add (local.get $m) (local.get $i))))
            (f32x4.mul (f32x4.splat (local.get $c1)) (local.get $gv))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (f32x4.splat (local.get $b2)) (v128.load (i32.add (local.get $v) (local.get $i))))
            (f32x4.mul (f32x4.mul (f32x4.splat (local.get $c2)) (local.get $gv)) (local.get $gv))))
        (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vv))
        ;; θ ← θ − stepSize·m / (√v / bc2Sqrt + ε)
        (v128.store (local.get $i)
          (f32x4.sub (v128.load (local.get $i))
            (f32x4.div
              (f32x4.mul (f32x4.splat (local.get $stepSize)) (local.get $mv))
              (f32x4.add
                (f32x4.div (f32x4.sqrt (local.get $vv)) (f32x4.splat (local.get $bc2Sqrt)))
                (f32x4.splat (local.get $eps))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vectors)))
    ;; The same update one element at a time: the tail, or the vector with a non-finite gradient.
    (block $scalarsDone
      (loop $scalars
        (br_if $scalarsDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $i))))
        (if (f32.ne (f32.sub (local.get $gs) (local.get $gs)) (f32.const 0))
          (then (return (i32.shr_u (local.get $i) (i32.const 2)))))
        (if (f32.ne (local.get $weightDecay) (f32.const 0))
          (then (local.set $gs (f32.add (local.get $gs) (f32.mul (local.get $weightDecay) (f32.load (local.get $i)))))))
        (local.set $ms
          (f32.add
            (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $i))))
            (f32.mul (local.get $c1) (local.get $gs))))
        (local.set $vs
          (f32.add
            (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $i))))
            (f32.mul (f32.mul (local.get $c2) (local.get $gs)) (local.get $gs))))
        (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $vs))
        (f32.store (local.get $i)
          (f32.sub (f32.load (local.get $i))
            (f32.div
              (f32.mul (local.get $stepSize) (local.get $ms))
              (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $bc2Sqrt)) (local.get $eps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $scalars)))
    (local.get $n)))
