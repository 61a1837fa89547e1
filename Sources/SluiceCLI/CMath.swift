import Foundation

/// The C library's pow (glibc on Linux), named apart from any Swift overload.
@inline(__always)
func cPow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
