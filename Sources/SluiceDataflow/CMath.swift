import Foundation

@inline(__always) func cPow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
@inline(__always) func cLog(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func cExp(_ x: Double) -> Double { Foundation.exp(x) }
@inline(__always) func cAsin(_ x: Double) -> Double { Foundation.asin(x) }
@inline(__always) func cSin(_ x: Double) -> Double { Foundation.sin(x) }
