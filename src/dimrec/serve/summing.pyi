from numpy import float32, int32, int64, uint8
from numpy.typing import NDArray

class WeightedSum:
    def __init__(
        self,
        starts: NDArray[int64],
        neighbours: NDArray[int32],
        scores: NDArray[float32],
        hidden: NDArray[uint8],
    ) -> None: ...
    def top(
        self, numbers: list[int], weights: list[float], removed: list[int], n: int
    ) -> tuple[list[int], list[float]]: ...
