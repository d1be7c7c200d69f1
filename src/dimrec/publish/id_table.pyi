from numpy import int32, int64, uint8, uint64
from numpy.typing import NDArray

def find_numbers(
    slots: NDArray[int32],
    keys: NDArray[uint64],
    id_offsets: NDArray[int64],
    id_bytes: NDArray[uint8],
    mask: int,
    encoded: list[bytes],
    hashed: list[int],
) -> list[int]: ...
def ids_at(
    id_offsets: NDArray[int64], id_bytes: NDArray[uint8], numbers: list[int]
) -> list[str]: ...
