"""The native half of sweepwatch (Rust); the package's modules wrap it."""

from typing import Dict, List, Optional, Tuple, Union

__version__: str

def check_config(json: Optional[str] = None, path: Optional[str] = None) -> str: ...
def config_fields() -> str: ...
def detect_files(
    paths: List[str],
    config_json: Optional[str] = None,
    config_path: Optional[str] = None,
    pending_unanswered: bool = False,
    flow_memory_mib: int = 64,
    reorder_window: int = 1048576,
    zones: str = "none",
) -> Tuple[List[str], List[Dict[str, object]]]: ...
def read_events(
    path: str, pending_unanswered: bool = False, flow_memory_mib: int = 64, zones: str = "none"
) -> Dict[str, Union[int, bytes, Dict[str, object]]]: ...
def pack_addresses(column: str, values: List[object]) -> bytes: ...
def unpack_addresses(packed: bytes) -> List[str]: ...
def technique_names() -> List[str]: ...

class Detector:
    def __init__(self, config_json: Optional[str] = None, config_path: Optional[str] = None) -> None: ...
    def observe_columns(
        self,
        n: int,
        ts: bytes,
        src: bytes,
        src_width: int,
        dst: bytes,
        dst_width: int,
        dst_port: bytes,
        proto: bytes,
        outcome: bytes,
        src_port: Optional[bytes] = None,
        zone: Optional[bytes] = None,
        technique: Optional[bytes] = None,
        src_local: Optional[bytes] = None,
        dst_local: Optional[bytes] = None,
    ) -> List[str]: ...
    def flush(self) -> List[str]: ...
    def advance(self, micros: int) -> List[str]: ...
    def stats(self) -> Dict[str, int]: ...
