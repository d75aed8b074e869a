"""Tables of the points feature, one file each."""

from server.points.models.board_state import BoardState
from server.points.models.points_entry import PointsEntry
from server.points.models.points_period import PointsPeriod
from server.points.models.rectification_item import RectificationItem
from server.points.models.star_rating import StarRating

__all__ = ["BoardState", "PointsEntry", "PointsPeriod", "RectificationItem", "StarRating"]
